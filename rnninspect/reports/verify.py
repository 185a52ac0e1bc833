"""``rnninspect verify``: the parity rows, the noise floor, the step-wise check and the timing
of one run.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.commands.verify.runtime_checks import RuntimeResult
    from rnninspect.commands.verify.steps import StepParity
    from rnninspect.core.load import MachineLoad
    from rnninspect.core.parity import ParityRow, Tolerance
    from rnninspect.core.timing import Timing


@dataclass(frozen=True)
class VerifyReport:
    """``rnninspect verify``: parity rows of the implementation under test against the reference."""

    spec: RNNSpec
    versions: dict[str, str]
    device: dict[str, str | bool | None]
    dtype: str
    reference_dtype: str
    tf32: bool | None
    tolerance: Tolerance
    rows: list[ParityRow]
    steps: StepParity | None
    timing: dict[str, Timing]
    notes: list[str]
    warnings: list[str]
    impl: str | None
    weight_scale: float
    zero_state: bool
    weights_source: str | None = None
    runtimes: list[RuntimeResult] = field(default_factory=list)
    timing_mode: str = "quick"  # --timing: off, quick or full
    threads: int | None = None  # CPU threads it ran on
    machine: MachineLoad | None = None  # what else the machine did while it was timed

    @property
    def verdict(self) -> str:
        """``fail`` if any row fails (a runtime's included), else ``inconclusive`` if any is,
        else ``pass``."""
        verdicts = {row.verdict for row in self.rows}
        verdicts |= {result.verdict for result in self.runtimes}
        for verdict in ("fail", "inconclusive"):
            if verdict in verdicts:
                return verdict
        return "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        steps = None
        if self.steps is not None:
            s = self.steps
            steps = {
                "steps": s.steps,
                "out_of_range": s.out_of_range,
                "forward_ok": s.forward_ok if s.steps else None,
                "forward_excess": _finite(s.forward.excess),
                "forward_worst": s.forward.where,
                "backward_ok": s.backward_ok if s.steps else None,
                "backward_excess": _finite(s.backward.excess),
                "backward_worst": s.backward.where,
                "reference_forward_excess": _finite(s.reference_forward.excess),
                "reference_backward_excess": _finite(s.reference_backward.excess),
            }
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "device": self.device["device"],
            "device_info": self.device,
            "dtype": self.dtype,
            "reference_dtype": self.reference_dtype,
            "tf32": self.tf32,
            "impl": self.impl,
            "weights": self.weights_source,
            "weight_scale": self.weight_scale,
            "zero_state": self.zero_state,
            "tolerance_source": self.tolerance.source,
            "parity": [row.to_dict() for row in self.rows],
            "steps": steps,
            "runtimes": [result.to_dict() for result in self.runtimes],
            "timing": {name: timing.to_dict() for name, timing in self.timing.items()},
            "timing_mode": self.timing_mode,
            "machine": None if self.machine is None else self.machine.to_dict(),
            "threads": self.threads,
            "notes": self.notes,
            "warnings": self.warnings,
            "verdict": self.verdict,
            "ok": self.ok,
        }


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
