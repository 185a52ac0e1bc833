"""``rnninspect convert``: what was converted, how, and whether both frameworks agree on the
file written.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnninspect.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.keras import WeightMap
    from rnninspect.parity import ParityRow


@dataclass(frozen=True)
class ConvertedModule:
    """One torch module and the Keras layers it was converted to or from, run in both."""

    prefix: str
    keras_layers: list[str]
    spec: RNNSpec
    mapping: list[WeightMap]
    rows: list[ParityRow]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "torch_prefix": self.prefix,
            "keras_layers": self.keras_layers,
            "spec": self.spec.to_spec_string(),
            "mapping": [row.to_dict() for row in self.mapping],
            "parity": [row.to_dict() for row in self.rows],
            "ok": self.ok,
        }


@dataclass(frozen=True)
class ConvertReport:
    """``rnninspect convert``: what was converted, how, and whether both frameworks agree on
    the file written; ``written`` is false when a module failed and nothing was written."""

    source: str
    to: str
    output: str
    versions: dict[str, str]
    modules: list[ConvertedModule]
    notes: list[str]
    written: bool

    @property
    def ok(self) -> bool:
        return self.written and all(module.ok for module in self.modules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "to": self.to,
            "output": self.output,
            "written": self.written,
            "versions": self.versions,
            "modules": [module.to_dict() for module in self.modules],
            "notes": self.notes,
            "ok": self.ok,
        }
