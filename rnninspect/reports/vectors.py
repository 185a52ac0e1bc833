"""``rnninspect vectors``: what was written for each configuration, and, with ``--check``, what
moved when the numbers were derived again.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rnninspect.reports.conformance import OutputRow


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a vector set: its name in the file, what it is, its shape and layout."""

    name: str
    role: str
    shape: tuple[int, ...]
    dtype: str
    layout: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
        }


@dataclass(frozen=True)
class VectorSet:
    """One configuration's folder: its tensors, and torch's module verified on them."""

    name: str
    folder: str
    spec: str
    dtype: str
    tensors: tuple[TensorEntry, ...]
    torch_verdict: str
    worst_torch_error: float

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst_torch_error
        return {
            "name": self.name,
            "folder": self.folder,
            "spec": self.spec,
            "dtype": self.dtype,
            "tensors": [entry.to_dict() for entry in self.tensors],
            "torch_verdict": self.torch_verdict,
            "worst_torch_error": worst if math.isfinite(worst) else None,
        }


@dataclass(frozen=True)
class VectorsReport:
    """Everything ``vectors -o DIR`` wrote."""

    folder: str
    format: str
    layouts: tuple[str, ...]
    sets: tuple[VectorSet, ...]

    @property
    def ok(self) -> bool:
        return True  # written; torch's own verdict is reported, not the command's outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "vectors",
            "folder": self.folder,
            "format": self.format,
            "layouts": list(self.layouts),
            "sets": [entry.to_dict() for entry in self.sets],
        }


@dataclass(frozen=True)
class Drift:
    """One tensor stored against the same tensor derived again: ``identical``, ``same within
    float64 rounding``, ``drifted``, or why they cannot be compared (difference None)."""

    tensor: str
    difference: float | None
    status: str

    @property
    def moved(self) -> bool:
        return self.status not in ("identical", "same within float64 rounding")

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "max_abs_diff": self.difference, "status": self.status}


@dataclass(frozen=True)
class VectorsCheckReport:
    """``vectors --check DIR``: each set's tensors, stored against derived again now."""

    folder: str
    versions: dict[str, str]
    sets: tuple[tuple[str, tuple[Drift, ...]], ...]

    @property
    def ok(self) -> bool:
        return not any(drift.moved for _, drifts in self.sets for drift in drifts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "vectors",
            "check": self.folder,
            "versions": self.versions,
            "sets": [
                {"name": name, "tensors": [d.to_dict() for d in drifts]}
                for name, drifts in self.sets
            ],
            "ok": self.ok,
        }


@dataclass(frozen=True)
class VectorsVerifyReport:
    """``verify --vectors DIR``: the implementation's outputs and gradients against the file's."""

    folder: str
    spec: str
    implementation: str
    dtype: str
    stored_by: str
    versions: dict[str, str]
    rows: tuple[OutputRow, ...]

    @property
    def verdict(self) -> str:
        return "fail" if any(row.verdict != "pass" for row in self.rows) else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "verify",
            "vectors": self.folder,
            "spec": self.spec,
            "implementation": self.implementation,
            "dtype": self.dtype,
            "stored_by": self.stored_by,
            "versions": self.versions,
            "parity": [row.to_dict() for row in self.rows],
            "verdict": self.verdict,
            "ok": self.ok,
        }
