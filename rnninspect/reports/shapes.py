"""``rnninspect shapes``: every tensor and parameter as torch produced it, beside the shape model.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rnninspect.model.memory import MemoryEstimate
from rnninspect.model.shapes import ParameterShape, TensorShape
from rnninspect.model.spec import RNNSpec


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
    computed_on: str = "meta"
    # the sequence lengths torch's meta forward ran at, where the tensors' shapes at the length
    # asked for are the shape model's (a long sequence); None where torch ran that length
    checked_at: tuple[int, ...] | None = None

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
            "computed_on": self.computed_on,
            "checked_at_seq_len": None if self.checked_at is None else list(self.checked_at),
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
