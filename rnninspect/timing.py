"""Timing with ``torch.utils.benchmark``: warm-up, CUDA synchronisation, blocked_autorange."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils import benchmark

from rnninspect.runs import Side, run_with_grads, without_grad


@dataclass(frozen=True)
class Timing:
    """The median and interquartile range of one callable, in milliseconds, over ``runs`` runs
    timed in ``blocks`` blocks. ``iqr_ms`` is None when there was one block: one measurement
    has no spread."""

    median_ms: float
    iqr_ms: float | None
    runs: int
    blocks: int = 1

    @property
    def relative_spread(self) -> float | None:
        """The IQR as a fraction of the median; None without a spread."""
        return None if self.iqr_ms is None else self.iqr_ms / self.median_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "iqr_ms": self.iqr_ms,
            "runs": self.runs,
            "blocks": self.blocks,
        }


#: Blocks every timing has at least, so that its IQR is a spread and never the 0 of one block.
MIN_BLOCKS = 3


def _median_iqr(values: list[float]) -> tuple[float, float]:
    import statistics

    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values), high - low


def _timing(times: list[float], per_block: int) -> Timing:
    """A timing from seconds per run, one entry per block of ``per_block`` runs."""
    median, iqr = _median_iqr(times)
    return Timing(median * 1e3, iqr * 1e3, len(times) * per_block, len(times))


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


def measure_quickly(
    fn: Callable[[], object], seconds: float, synchronize: Callable[[], None] | None = None
) -> Timing:
    """Time ``fn()`` call by call for about ``seconds`` (at least :data:`MIN_BLOCKS` calls):
    verify's quick timing line. ``torch.utils.benchmark``'s block-size estimate alone takes
    about a quarter of a second a timing, more than the whole check of a small module."""
    import time

    fn()  # warm-up
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < MIN_BLOCKS or (time.perf_counter() < deadline and len(times) < 10_000):
        if synchronize is not None:
            synchronize()
        started = time.perf_counter()
        fn()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - started)
    return _timing(times, 1)


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
    quick: Callable[[], None] | bool = False,
) -> dict[str, Timing]:
    """Each side's forward (``<side>``) and, with ``backward``, forward plus backward of the
    upstream gradient (``<side>_backward``): by ``torch.utils.benchmark``, or with ``quick``
    call by call (:func:`measure_quickly`; a callable ``quick`` is the device's synchronize)."""

    def timed(fn: Callable[[], object]) -> Timing:
        if quick is False:
            return measure(fn, min_time)
        return measure_quickly(fn, min_time, None if quick is True else quick)

    timing: dict[str, Timing] = {}
    for name, (forward, params, inputs) in sides.items():
        timing[name] = timed(without_grad(forward, inputs))
        if backward:
            timing[f"{name}_backward"] = timed(
                functools.partial(run_with_grads, forward, params, inputs, upstream)
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
    tested: Callable[[], object], baseline: Callable[[], object], min_time: float, rounds: int = 5
) -> RatioRounds:
    """``tested``'s median time over ``baseline``'s, per round, over alternating rounds."""
    ratios = []
    for _ in range(rounds):
        base = measure(baseline, min_time / rounds).median_ms
        ratios.append(measure(tested, min_time / rounds).median_ms / base)
    median, iqr = _median_iqr(ratios)
    return RatioRounds(median, iqr, min(ratios), max(ratios), rounds)
