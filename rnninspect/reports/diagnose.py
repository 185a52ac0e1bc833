"""``rnninspect diagnose``: whether given shapes fit, torch's verdict beside ours.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.commands.diagnose.diagnose import Problem


@dataclass(frozen=True)
class DiagnoseReport:
    """``rnninspect diagnose``: whether the given shapes fit the module, and each misfit."""

    spec: RNNSpec
    versions: dict[str, str]
    shapes: dict[str, tuple[int, ...] | None]
    problems: list[Problem]
    torch_ran: bool
    torch_error: str | None
    torch_note: str | None = None
    read_as: list[str] = field(default_factory=list)  # how the shapes were read, and assumed

    @property
    def fits(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "shapes": {k: None if v is None else list(v) for k, v in self.shapes.items()},
            "fits": self.fits,
            "problems": [problem.to_dict() for problem in self.problems],
            "torch_ran": self.torch_ran,
            "torch_error": self.torch_error,
            "torch_note": self.torch_note,
            "read_as": self.read_as,
        }
