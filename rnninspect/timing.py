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


def measure(fn: Callable[[], object], min_run_time: float = 0.2) -> Timing:
    """Time ``fn()``; torch.utils.benchmark synchronises CUDA around each block of runs."""
    fn()  # warm-up: lazy initialisation, cuDNN plan selection, allocator
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    blocks = len(measurement.times)
    return Timing(
        median_ms=measurement.median * 1e3,
        iqr_ms=measurement.iqr * 1e3 if blocks > 1 else None,
        runs=blocks * measurement.number_per_run,
        blocks=blocks,
    )


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
) -> dict[str, Timing]:
    """Each side's forward (``<side>``) and, with ``backward``, forward plus backward of the
    upstream gradient (``<side>_backward``)."""
    timing: dict[str, Timing] = {}
    for name, (forward, params, inputs) in sides.items():
        timing[name] = measure(without_grad(forward, inputs), min_time)
        if backward:
            run = functools.partial(run_with_grads, forward, params, inputs, upstream)
            timing[f"{name}_backward"] = measure(run, min_time)
    return timing
