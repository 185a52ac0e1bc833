"""What a matrix will cost before it runs: each case's cost from the shape model, the slices
``--shard K/N`` runs, and the wall-time estimate that ``--yes`` guards.

A case's cost is a fixed formula of its configuration (per case, per time step, per
floating-point operation), the same on every machine, so that N CI jobs given the same file cut
the same slices: every case runs in exactly one shard. Only the wall-time estimate is scaled by
a calibration run on this machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from rnninspect.model.shapes import flop_count, layer_steps
from rnninspect.model.spec import SpecError
from rnninspect.reports.matrix import Case

#: Seconds, on the 2-core machine the constants were measured on (docs/performance.md), that
#: verify spends per case, per layer-step of the reference's Python loop, and per forward FLOP
#: (module, reference, noise floor, forward and backward together).
PER_CASE = 0.005
PER_STEP = 0.0005
PER_FLOP = 0.8e-9

#: Past these, a matrix asks first (``--yes`` where no one can answer).
ASK_SECONDS = 600.0
ASK_CASES = 1000


def cost(case: Case) -> float:
    """The case's verify time on the reference machine, in seconds, from its configuration."""
    spec = case.spec
    work = PER_CASE + PER_STEP * layer_steps(spec) + PER_FLOP * flop_count(spec).flops
    return work * len(case.options.runtimes or ("eager",))


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N``, 1 <= K <= N."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text)
    if match is None:
        raise SpecError(f"--shard must be K/N, such as 2/5, got {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise SpecError(f"--shard {text}: K must be between 1 and N")
    return k, n


def assign(costs: Sequence[float], shards: int) -> list[int]:
    """The shard (0-based) of every case: the costliest first, each to the shard with the least
    cost so far (ties to the lowest index), which keeps the slices within a third of the best
    split. The same costs give the same slices everywhere."""
    totals = [0.0] * shards
    owner = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        lightest = min(range(shards), key=lambda s: (totals[s], s))
        owner[index] = lightest
        totals[lightest] += costs[index]
    return owner


def shard(cases: Sequence[Case], k: int, n: int) -> list[Case]:
    """The K-th of N slices (1-based), its cases in the file's order."""
    owner = assign([cost(case) for case in cases], n)
    return [case for case, s in zip(cases, owner, strict=True) if s == k - 1]


def calibration() -> float:
    """How much slower this machine is than the reference one: one small verify timed against
    the cost formula (after a first run, which pays for imports and warm-up)."""
    from rnninspect.commands.verify.verification import verify
    from rnninspect.core.options import VerifyOptions
    from rnninspect.model.spec import make_spec

    spec = make_spec(cell="lstm", input_size=10, hidden_size=20, seq_len=20, num_layers=2)
    options = VerifyOptions(timing=False)
    verify(spec, options)
    started = time.perf_counter()
    verify(spec, options)
    seconds = time.perf_counter() - started
    return seconds / cost(Case("calibration", spec, options))


def estimate(cases: Sequence[Case], jobs: int, scale: float) -> float:
    """Seconds the cases should take with ``jobs`` workers on this machine."""
    costs = sorted((cost(case) * scale for case in cases), reverse=True)
    workers = [0.0] * max(1, jobs)
    for value in costs:
        workers[workers.index(min(workers))] += value
    return max(workers)
