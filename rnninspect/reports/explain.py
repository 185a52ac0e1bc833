"""``rnninspect explain``: equations, shapes, the unrolled diagram and the checked relations.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnninspect.model.spec import RNNSpec
from rnninspect.reports.shapes import ShapesReport


@dataclass(frozen=True)
class ExplainReport:
    """``rnninspect explain``: equations, shapes, the unrolled network and checked relations."""

    shapes: ShapesReport
    equations: list[str]
    diagram: list[str]
    relations: list[Any]
    notes: list[str]
    h_n_rows: list[str] = field(default_factory=list)
    # the diagram with fewer steps drawn (6, 4, 2), for a terminal too narrow for the first
    narrower: list[list[str]] = field(default_factory=list)

    @property
    def spec(self) -> RNNSpec:
        return self.shapes.spec

    @property
    def ok(self) -> bool:
        """The shape model agrees with torch, every relation holds and every pitfall differs."""
        return self.shapes.ok and all(relation.as_expected for relation in self.relations)

    def to_dict(self) -> dict[str, Any]:
        base = self.shapes.to_dict()
        return {
            "config": base["config"],
            "spec": base["spec"],
            "versions": base["versions"],
            "equations": self.equations,
            "tensors": base["tensors"],
            "parameters": base["parameters"],
            "total_params": base["total_params"],
            "diagram": self.diagram,
            "h_n_rows": self.h_n_rows,
            "relations": [relation.to_dict() for relation in self.relations],
            "notes": self.notes,
            "ok": self.ok,
        }
