"""Timing: ``torch.utils.benchmark``'s blocked_autorange for careful numbers (bench, verify
``--timing full``), short blocks timed for a fixed budget where the timing must cost in
proportion (verify's quick line, bench's ratio rounds); a warm-up and the device's
synchronisation in both."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor
from torch.utils import benchmark

from rnninspect.core.runs import Side, run_with_grads, without_grad

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """The median and interquartile range of one callable, in milliseconds, over ``runs`` runs
    timed in ``blocks`` blocks. ``iqr_ms`` is None when there was one block: one measurement
    has no spread. ``cold`` marks a single first call of the callable (lazy initialisation and
    all), kept only where that one call took longer than :data:`WARM_AGAIN_SECONDS`."""

    median_ms: float
    iqr_ms: float | None
    runs: int
    blocks: int = 1
    cold: bool = False

    @property
    def relative_spread(self) -> float | None:
        """The IQR as a fraction of the median; None without a spread."""
        return None if self.iqr_ms is None else self.iqr_ms / self.median_ms

    @property
    def unstable(self) -> bool:
        """Its interquartile range is over 10% of its median (:data:`load.UNSTABLE_SPREAD`),
        or it is one cold call: the number is not one to compare with another."""
        from rnninspect.core.load import UNSTABLE_SPREAD

        spread = self.relative_spread
        return self.cold or (spread is not None and spread > UNSTABLE_SPREAD)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "iqr_ms": self.iqr_ms,
            "runs": self.runs,
            "blocks": self.blocks,
            "cold": self.cold,
            "unstable": self.unstable,
        }


#: A first call that alone outlasts a quick timing's share is followed by one more, warm, call
#: where it took at most this long; a slower one is reported as it is, marked cold (its own
#: work outweighs what a first call adds).
WARM_AGAIN_SECONDS = 0.5


#: Blocks every timing has at least, so that its IQR is a spread and never the 0 of one block.
MIN_BLOCKS = 3


def _median_iqr(values: list[float]) -> tuple[float, float | None]:
    """The median and the interquartile range; one value has no range (None)."""
    import statistics

    if len(values) < 2:
        return statistics.median(values), None
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values), high - low


def _timing(times: list[float], per_block: int, cold: bool = False) -> Timing:
    """A timing from seconds per run, one entry per block of ``per_block`` runs."""
    median, iqr = _median_iqr(times)
    spread = None if iqr is None else iqr * 1e3
    return Timing(median * 1e3, spread, len(times) * per_block, len(times), cold)


def _one_call(first: float, again: Callable[[], float]) -> Timing:
    """One call's timing where a first call took ``first`` seconds: a warm call timed
    (``again()``) where the first took at most :data:`WARM_AGAIN_SECONDS`, else the first,
    marked cold."""
    if first <= WARM_AGAIN_SECONDS:
        return _timing([again()], 1)
    return _timing([first], 1, cold=True)


def measure(fn: Callable[[], object], min_run_time: float = 0.2) -> Timing:
    """Time ``fn()``; torch.utils.benchmark synchronises CUDA around each block of runs. A
    call slower than ``min_run_time`` would give one block; more are timed until there are
    :data:`MIN_BLOCKS`."""
    fn()  # warm-up: lazy initialisation, cuDNN plan selection, allocator
    # the Timer runs on one thread unless told: time on the threads the report says were used
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    times = list(measurement.times)  # seconds per run, one entry per block
    while len(times) < MIN_BLOCKS:
        times += timer.timeit(measurement.number_per_run).times
    return _timing(times, measurement.number_per_run)


#: How long one block of :func:`measure_quickly` lasts at least: a call faster than this is
#: timed in blocks of several, so that the timer's own cost and a device synchronisation
#: (about 10 µs on CUDA) weigh 1% at most.
BLOCK_SECONDS = 1e-3


def seconds_of(
    fn: Callable[[], T], synchronize: Callable[[], None] | None = None
) -> tuple[T, float]:
    """``fn()``'s result and the seconds it took, the device synchronised before and after."""
    import time

    if synchronize is not None:
        synchronize()
    started = time.perf_counter()
    result = fn()
    if synchronize is not None:
        synchronize()
    return result, time.perf_counter() - started


def measure_quickly(
    fn: Callable[[], object],
    seconds: float,
    synchronize: Callable[[], None] | None = None,
    min_blocks: int = MIN_BLOCKS,
) -> Timing:
    """Time ``fn()`` in about ``seconds``, its warm-up call included, in blocks of as many calls
    as last :data:`BLOCK_SECONDS`: verify's quick timing line and bench's ratio rounds.
    ``torch.utils.benchmark``'s block-size estimate alone takes about a quarter of a second a
    timing, more than the whole check of a small module. ``synchronize`` (the device's) is
    called around each block.

    A block is started only while it is expected to end within ``seconds``, beyond the first
    ``min_blocks``. With ``min_blocks=1`` a call that alone fills ``seconds`` is timed once
    (:func:`_one_call`: one warm call, or the cold warm-up itself where that took long): one
    sample, no spread (``iqr_ms`` None), instead of a timing line that costs several times the
    check it reports on.
    """
    import time

    def timed(calls: int) -> float:
        def block() -> None:
            for _ in range(calls):
                fn()

        return seconds_of(block, synchronize)[1]

    deadline = time.perf_counter() + seconds
    warm_up = timed(1)  # lazy initialisation, cuDNN plan selection, allocator
    if min_blocks <= 1 and time.perf_counter() + warm_up > deadline:
        return _one_call(warm_up, lambda: timed(1))
    first = timed(1)
    per_block = max(1, min(1000, int(BLOCK_SECONDS / max(first, 1e-9))))
    times: list[float] = [first] if per_block == 1 else []
    block = first * per_block
    while len(times) < min_blocks or (
        time.perf_counter() + block <= deadline and len(times) < 10_000
    ):
        block = timed(per_block)
        times.append(block / per_block)
    return _timing(times, per_block)


def peak_cuda_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Bytes ``fn()`` allocates on a CUDA device at its peak, beyond what was already there."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def time_sides(
    sides: Mapping[str, Side],
    upstream: Mapping[str, Tensor],
    min_time: float,
    backward: bool,
    quick: bool = False,
    synchronize: Callable[[], None] | None = None,
    already: Mapping[str, float] | None = None,
) -> dict[str, Timing]:
    """Each side's forward (``<side>``) and, with ``backward``, forward plus backward of the
    upstream gradient (``<side>_backward``): by ``torch.utils.benchmark``, or with ``quick``
    in short blocks for about ``min_time`` each, a call slower than that timed once
    (:func:`measure_quickly`, ``synchronize`` being the device's). ``already`` holds the
    seconds a call of some of these took in work done before (verify's parity runs): with
    ``quick``, one that alone fills ``min_time`` is timed once more warm, or, where it took
    longer than :data:`WARM_AGAIN_SECONDS`, is that first call's time, marked cold."""

    def timed(name: str, fn: Callable[[], object]) -> Timing:
        if not quick:
            return measure(fn, min_time)
        seconds = (already or {}).get(name)
        if seconds is not None and seconds >= min_time:
            return _one_call(seconds, lambda: seconds_of(fn, synchronize)[1])
        return measure_quickly(fn, min_time, synchronize, min_blocks=1)

    timing: dict[str, Timing] = {}
    for name, (forward, params, inputs) in sides.items():
        timing[name] = timed(name, without_grad(forward, inputs))
        if backward:
            timing[f"{name}_backward"] = timed(
                f"{name}_backward",
                functools.partial(run_with_grads, forward, params, inputs, upstream),
            )
    return timing


@dataclass(frozen=True)
class RatioRounds:
    """One side's time over another's, measured in ``rounds`` rounds that alternate the two, so
    that a change in the machine's load touches both alike: the median ratio, its IQR and its
    range over the rounds."""

    median: float
    iqr: float
    low: float
    high: float
    rounds: int

    @property
    def unsettled(self) -> bool:
        """The rounds disagree about which side is faster: the difference reported is within
        the noise."""
        return self.low < 1.0 < self.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "iqr": self.iqr,
            "low": self.low,
            "high": self.high,
            "rounds": self.rounds,
        }


def ratio_rounds(
    tested: Callable[[], object],
    baseline: Callable[[], object],
    min_time: float,
    rounds: int = 5,
    synchronize: Callable[[], None] | None = None,
) -> RatioRounds:
    """``tested``'s median time over ``baseline``'s, per round, over alternating rounds, in
    about ``min_time`` seconds for each side (:func:`measure_quickly`, ``synchronize`` being
    the device's)."""
    ratios = []
    for _ in range(rounds):
        base = measure_quickly(baseline, min_time / rounds, synchronize).median_ms
        ratios.append(measure_quickly(tested, min_time / rounds, synchronize).median_ms / base)
    median, iqr = _median_iqr(ratios)
    return RatioRounds(median, iqr or 0.0, min(ratios), max(ratios), rounds)
