"""``rnninspect bench``: timings of every side, FLOPs, memory, and a sweep's points and growth.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.memory import MemoryEstimate
from rnninspect.model.shapes import FlopCount
from rnninspect.model.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.core.load import MachineLoad
    from rnninspect.core.timing import RatioRounds, Timing


@dataclass(frozen=True)
class SweepPoint:
    """One value of a swept setting and the benchmark taken there."""

    value: int
    report: BenchReport


@dataclass(frozen=True)
class BenchReport:
    """``rnninspect bench``: timings of torch's module and the reference, FLOPs, memory."""

    spec: RNNSpec
    versions: dict[str, str]
    device: dict[str, str | bool | None]
    dtype: str
    threads: int
    backward: bool
    tf32: bool | None
    timing: dict[str, Timing]
    without_cudnn: dict[str, Timing]
    flops: FlopCount
    peak_gflops: float | None
    memory: MemoryEstimate
    peak_bytes: dict[str, int]
    warnings: list[str]
    weights_source: str | None = None
    sweep_name: str | None = None
    sweep: list[SweepPoint] = field(default_factory=list)
    sweep_warning: str | None = None
    runtime_details: dict[str, str] = field(default_factory=dict)
    runtime_errors: dict[str, str] = field(default_factory=dict)
    impl_ratios: dict[str, RatioRounds] = field(default_factory=dict)
    machine: MachineLoad | None = None  # what else the machine did while this was timed

    @property
    def unstable(self) -> list[str]:
        """The timings whose spread is over 10% of their median (or that are one cold call)."""
        timings = {**self.timing, **{f"{k} (cuDNN off)": v for k, v in self.without_cudnn.items()}}
        return [name for name, timing in timings.items() if timing.unstable]

    @property
    def tokens(self) -> int:
        """Valid time steps of all sequences in one forward pass."""
        return self.spec.tokens

    @property
    def ratio(self) -> float:
        """Reference time over module time, forward."""
        return self.timing["reference"].median_ms / self.timing["module"].median_ms

    def gflops(self, side: str) -> float:
        """Achieved GFLOP/s of one side's forward pass."""
        return self.flops.flops / (self.timing[side].median_ms * 1e-3) / 1e9

    def tokens_per_s(self, side: str) -> float:
        return self.tokens / (self.timing[side].median_ms * 1e-3)

    def exponents(self) -> dict[str, float]:
        """The fitted growth k of ``time ~ value^k`` of each timed side, over the sweep."""
        if len(self.sweep) < 2:
            return {}
        values = [point.value for point in self.sweep]
        return {
            side: growth_exponent(values, [p.report.timing[side].median_ms for p in self.sweep])
            for side in self.timing
        }

    def _measurement(self) -> dict[str, Any]:
        sides = [side for side in self.timing if not side.endswith("_backward")]
        entry: dict[str, Any] = {
            "timing": {name: timing.to_dict() for name, timing in self.timing.items()},
            "ratio": self.ratio,
            "impl_ratio": {name: rounds.to_dict() for name, rounds in self.impl_ratios.items()},
            "tokens_per_s": {side: self.tokens_per_s(side) for side in sides},
            "flops": self.flops.flops,
            "macs": self.flops.macs,
            "elementwise_ops": self.flops.elementwise,
            "gflops_per_s": {side: self.gflops(side) for side in sides},
        }
        if self.peak_gflops is not None:
            entry["percent_of_peak"] = {
                side: 100 * self.gflops(side) / self.peak_gflops for side in sides
            }
        if self.without_cudnn:
            entry["timing_without_cudnn"] = {
                name: timing.to_dict() for name, timing in self.without_cudnn.items()
            }
        entry["memory"] = {
            "estimate_forward_bytes": self.memory.shapes,
            "estimate_backward_bytes": self.memory.verify,
            "peak_forward_bytes": self.peak_bytes.get("forward"),
            "peak_backward_bytes": self.peak_bytes.get("backward"),
        }
        return entry

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "device": self.device["device"],
            "device_info": self.device,
            "dtype": self.dtype,
            "threads": self.threads,
            "backward": self.backward,
            "tf32": self.tf32,
            "weights": self.weights_source,
            **self._measurement(),
            "runtime_details": self.runtime_details,
            "runtime_errors": self.runtime_errors,
            "unstable": self.unstable,
            "machine": None if self.machine is None else self.machine.to_dict(),
            "warnings": self.warnings,
        }
        if self.sweep:
            result["sweep"] = {
                "name": self.sweep_name,
                "values": [point.value for point in self.sweep],
                "points": [
                    {
                        "value": point.value,
                        "config": point.report.spec.to_dict(),
                        **point.report._measurement(),
                    }
                    for point in self.sweep
                ],
                "exponent": self.exponents(),
                "warning": self.sweep_warning,
            }
        return result


def growth_exponent(values: list[int], times: list[float]) -> float:
    """The least-squares slope of log(time) against log(value): ``time ~ value^k``."""
    xs = [math.log(v) for v in values]
    ys = [math.log(t) for t in times]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
