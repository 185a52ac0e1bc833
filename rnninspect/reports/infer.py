"""``rnninspect infer``: the recurrent modules found in one checkpoint.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnninspect.commands.infer import Inconsistent, Inferred


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
        from rnninspect.commands.infer import Inferred

        return [m for m in self.modules if isinstance(m, Inferred)]

    @property
    def ok(self) -> bool:
        """At least one module, and every recurrent-looking group consistent."""
        return bool(self.modules) and len(self.found) == len(self.modules)

    def to_dict(self) -> dict[str, Any]:
        from rnninspect.commands.infer import summary

        return {
            "file": self.path,
            "versions": self.versions,
            "tensors": self.tensors,
            "modules": [summary(module) for module in self.modules],
            "notes": self.notes,
            "ok": self.ok,
        }
