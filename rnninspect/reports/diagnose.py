"""``rnninspect diagnose``: whether given shapes fit, torch's verdict beside ours.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnninspect.model.spec import RNNSpec

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Problem:
    """One misfit: which tensor and dimension, what was given and expected, and why.

    ``got`` and ``expected`` are a size (with ``dim``), a whole shape, or None for a tensor that
    is missing (``got``) or that the module does not take (``expected``); ``expected_text`` says
    in words what is expected where no shape can (an input of the wrong rank). ``fix`` holds
    the shapes that the hint proposes, by tensor name; :func:`diagnose` keeps it only when a
    second diagnosis of those shapes finds the misfit gone.
    """

    tensor: str
    dim: int | None
    got: int | Shape | None
    expected: int | Shape | None
    meaning: str
    hint: str
    fix: dict[str, Shape] | None = None
    expected_text: str | None = None

    @property
    def got_text(self) -> str:
        return format_shape(self.got)

    @property
    def wanted_text(self) -> str:
        if self.expected_text is not None:
            return self.expected_text
        return "none" if self.expected is None else format_shape(self.expected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "dim": self.dim,
            "got": _json(self.got),
            "expected": _json(self.expected),
            "expected_text": self.wanted_text,
            "meaning": self.meaning,
            "hint": self.hint,
            "fix": None if self.fix is None else {k: list(v) for k, v in self.fix.items()},
        }


def _json(value: int | Shape | None) -> int | list[int] | None:
    return list(value) if isinstance(value, tuple) else value


def format_shape(shape: int | Shape | None) -> str:
    if shape is None:
        return "missing"
    if isinstance(shape, int):
        return str(shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


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
