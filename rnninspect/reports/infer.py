"""``rnninspect infer``: the recurrent modules found in one checkpoint.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnninspect.model.spec import RNNSpec


@dataclass(frozen=True)
class Inferred:
    """One recurrent module found in a checkpoint."""

    prefix: str
    spec: RNNSpec
    shapes: dict[str, tuple[int, ...]]
    unknown: tuple[str, ...]

    @property
    def total_params(self) -> int:
        total = 0
        for shape in self.shapes.values():
            count = 1
            for size in shape:
                count *= size
            total += count
        return total


@dataclass(frozen=True)
class Inconsistent:
    """A group of recurrent-looking keys that no torch module produces, and why."""

    prefix: str
    problem: str


def summary(result: Inferred | Inconsistent) -> dict[str, Any]:
    """The contract's JSON entry for one module."""
    if isinstance(result, Inconsistent):
        return {"prefix": result.prefix, "inconsistent": True, "problem": result.problem}
    return {
        "prefix": result.prefix,
        "cell": result.spec.cell.value,
        "spec": result.spec.to_spec_string(),
        "config": {k: v for k, v in result.spec.to_dict().items() if k in RECORDED},
        "total_params": result.total_params,
        "unknown": list(result.unknown),
        "parameters": [
            {"name": name, "shape": list(shape)} for name, shape in result.shapes.items()
        ],
    }


#: Settings that weights record; the example-input ones (batch, seq_len, ...) are not theirs.
RECORDED = (
    "cell",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "bidirectional",
    "proj_size",
)


@dataclass(frozen=True)
class InferReport:
    """``rnninspect infer``: the recurrent modules found in one checkpoint."""

    path: str
    versions: dict[str, str]
    modules: list[Inferred | Inconsistent]
    tensors: int
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> list[Inferred]:
        return [m for m in self.modules if isinstance(m, Inferred)]

    @property
    def ok(self) -> bool:
        """At least one module, and every recurrent-looking group consistent."""
        return bool(self.modules) and len(self.found) == len(self.modules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "versions": self.versions,
            "tensors": self.tensors,
            "modules": [summary(module) for module in self.modules],
            "notes": self.notes,
            "ok": self.ok,
        }
