"""``rnninspect verify``: the parity rows, the noise floor, the step-wise check and the timing
of one run.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec
from rnninspect.model.verdict import NOISE_FACTOR, Verdict

if TYPE_CHECKING:
    from rnninspect.core.load import MachineLoad
    from rnninspect.core.parity import ParityRow, Tolerance
    from rnninspect.core.timing import Timing


#: The reference's step error is taken as at least this fraction of the tolerance, so that the
#: ratio stays at most 100 where the same-dtype reference happens to be almost exact.
RATIO_FLOOR = 0.01


@dataclass
class Worst:
    """The largest error over tolerance seen so far, and where."""

    excess: float = 0.0
    where: str = ""

    def update(self, excess: float, where: str) -> None:
        if excess > self.excess or not self.where:
            self.excess, self.where = excess, where


@dataclass
class StepParity:
    """The worst single step, forward and backward, of the implementation and of the
    reference in the implementation's dtype; ``excess`` is error over tolerance. A step is
    allowed its tolerance, or :data:`~rnninspect.parity.NOISE_FACTOR` times the error the
    reference in the same dtype makes on the same step and tensor where that is larger (a step
    through several layers of large weights can amplify correct rounding past the tolerance);
    ``forward_beyond`` and ``backward_beyond`` are the worst steps' errors over that. ``steps``
    counts the steps checked; ``out_of_range`` those that could not be, because the float64
    reference's state, results or gradients there lie beyond the dtype's largest value (a
    recurrence that overflows float16): no kernel in that dtype can take such a step."""

    steps: int = 0
    out_of_range: int = 0
    forward: Worst = field(default_factory=Worst)
    backward: Worst = field(default_factory=Worst)
    reference_forward: Worst = field(default_factory=Worst)
    reference_backward: Worst = field(default_factory=Worst)
    packed: bool = False
    forward_beyond: float = 0.0  # the worst step's error over what it is allowed
    backward_beyond: float = 0.0
    allowance: float = NOISE_FACTOR  # times the same-dtype reference's error on the step

    def amplified(self) -> list[str]:
        """``forward``, ``backward``: where the worst step is beyond tolerance yet allowed, as
        within ``allowance`` times the same-dtype reference's error on that step."""
        pairs = [
            ("forward", self.forward, self.forward_ok),
            ("backward", self.backward, self.backward_ok),
        ]
        return [name for name, worst, ok in pairs if worst.excess > 1.0 and ok]

    @property
    def forward_ok(self) -> bool:
        return self.forward_beyond <= 1.0

    @property
    def backward_ok(self) -> bool:
        return self.backward_beyond <= 1.0

    def noise_ratio(self, gradient: bool) -> float:
        """How many times noisier the implementation's steps are than the same-dtype
        reference's (at least 1); for gradient rows, forward and backward steps both count."""
        pairs = [(self.forward, self.reference_forward)]
        if gradient:
            pairs.append((self.backward, self.reference_backward))
        ratio = 1.0
        for mine, ours in pairs:
            if ours.excess > 0:
                ratio = max(ratio, mine.excess / max(ours.excess, RATIO_FLOOR))
        return ratio


@dataclass
class RuntimeResult:
    """One runtime at one shape: its rows, or the one-line reason it could not run."""

    runtime: str
    detail: str
    seq_len: int | None
    batch: int | None
    rows: list[ParityRow] = field(default_factory=list)
    error: str | None = None
    gradients: bool = True
    saved: str | None = None
    compiled: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The runtime's name, and ``(ran eagerly)`` where torch.compile compiled nothing."""
        eager = self.compiled is not None and self.compiled.get("ran_eagerly")
        return f"{self.runtime} (ran eagerly)" if eager else self.runtime

    @property
    def verdict(self) -> str:
        failed = [Verdict.FAIL] if self.error is not None else []
        return Verdict.worst([*failed, *(row.verdict for row in self.rows)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "detail": self.detail,
            "seq_len": self.seq_len,
            "batch": self.batch,
            "gradients": self.gradients,
            "error": self.error,
            "saved": self.saved,
            "compiled": self.compiled,
            "verdict": self.verdict,
            "parity": [row.to_dict() for row in self.rows],
        }


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
        runtimes = (result.verdict for result in self.runtimes)
        return Verdict.worst([*(row.verdict for row in self.rows), *runtimes])

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


def failed_run(
    spec: RNNSpec,
    found_versions: dict[str, str],
    *,
    device: str,
    dtype: str,
    impl: str | None,
    error: str,
) -> dict[str, Any]:
    """verify's JSON when the implementation under test failed before any row was measured
    (it raised, or ended its process): one document still, with the error and ``"ok": false``."""
    return {
        "config": spec.to_dict(),
        "spec": spec.to_spec_string(),
        "versions": found_versions,
        "device": device,
        "dtype": dtype,
        "impl": impl,
        "parity": [],
        "error": error,
        "verdict": Verdict.FAIL.value,
        "ok": False,
    }
