"""One result object per command; ``to_dict()`` is the JSON of the contract.

A report holds what was measured on the real module beside what the shape model predicted, so
every view of it (table, JSON, markdown) shows the same facts. No torch import.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect import __version__
from rnninspect.memory import MemoryEstimate
from rnninspect.shapes import ParameterShape, TensorShape
from rnninspect.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.parity import ParityRow, Tolerance
    from rnninspect.steps import StepParity
    from rnninspect.timing import Timing


def versions(torch_version: str) -> dict[str, str]:
    """The contract's ``versions``: rnninspect, torch and python."""
    return {"rnninspect": __version__, "torch": torch_version, "python": platform.python_version()}


@dataclass(frozen=True)
class Measured:
    """A tensor or parameter as torch produced it, beside the shape model's prediction."""

    predicted: TensorShape | ParameterShape | None
    name: str
    shape: tuple[int, ...] | None

    @property
    def numel(self) -> int:
        """Elements in the measured tensor; 0 for one torch did not produce."""
        return 0 if self.shape is None else math.prod(self.shape)

    @property
    def agrees(self) -> bool:
        return self.predicted is not None and self.predicted.shape == self.shape

    def disagreement(self, kind: str) -> str:
        predicted = "absent" if self.predicted is None else list(self.predicted.shape)
        measured = "absent" if self.shape is None else list(self.shape)
        return f"{kind} {self.name}: shape model says {predicted}, torch built {measured}"


@dataclass(frozen=True)
class ShapesReport:
    """``rnninspect shapes``: every tensor and parameter of one forward pass of the real module."""

    spec: RNNSpec
    versions: dict[str, str]
    tensors: list[Measured]
    parameters: list[Measured]
    memory: MemoryEstimate
    memory_limit: int
    warnings: list[str] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(row.numel for row in self.parameters)

    @property
    def mismatches(self) -> list[str]:
        """Every place where the shape model and torch disagree; empty when all is well."""
        return [row.disagreement("tensor") for row in self.tensors if not row.agrees] + [
            row.disagreement("parameter") for row in self.parameters if not row.agrees
        ]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "tensors": [_tensor_dict(row) for row in self.tensors],
            "parameters": [_parameter_dict(row) for row in self.parameters],
            "total_params": self.total_params,
            "memory": {
                "parameters_bytes": self.memory.parameters,
                "tensors_bytes": self.memory.tensors,
                "workspace_bytes": self.memory.workspace,
                "shapes_bytes": self.memory.shapes,
                "verify_bytes": self.memory.verify,
                "limit_bytes": self.memory_limit,
            },
            "warnings": self.warnings,
            "mismatches": self.mismatches,
            "ok": self.ok,
        }


def _list(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def _tensor_dict(row: Measured) -> dict[str, Any]:
    dims = []
    if isinstance(row.predicted, TensorShape):
        dims = [
            {"size": dim.size, "symbol": dim.symbol, "meaning": dim.meaning}
            for dim in row.predicted.dims
        ]
    return {"name": row.name, "shape": _list(row.shape), "dims": dims}


def _parameter_dict(row: Measured) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": row.name, "shape": _list(row.shape), "numel": row.numel}
    if isinstance(row.predicted, ParameterShape):
        predicted = row.predicted
        entry |= {"layer": predicted.layer, "direction": predicted.direction}
        entry |= {"rows": predicted.rows, "cols": predicted.cols}
    return entry


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

    @property
    def verdict(self) -> str:
        """``fail`` if any row fails, else ``inconclusive`` if any is, else ``pass``."""
        verdicts = {row.verdict for row in self.rows}
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
                "forward_ok": s.forward_ok,
                "forward_excess": _finite(s.forward.excess),
                "forward_worst": s.forward.where,
                "backward_ok": s.backward_ok,
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
            "weight_scale": self.weight_scale,
            "zero_state": self.zero_state,
            "tolerance_source": self.tolerance.source,
            "parity": [row.to_dict() for row in self.rows],
            "steps": steps,
            "timing": {name: timing.to_dict() for name, timing in self.timing.items()},
            "notes": self.notes,
            "warnings": self.warnings,
            "verdict": self.verdict,
            "ok": self.ok,
        }


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
