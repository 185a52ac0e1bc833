"""``rnninspect convert``: what was converted, how, and whether both frameworks agree on the
file written.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.core.parity import ParityRow
    from rnninspect.reports.keras import WeightMap


@dataclass(frozen=True)
class ConvertedModule:
    """One torch module and the Keras layers it was converted to or from, run in both."""

    prefix: str
    keras_layers: list[str]
    spec: RNNSpec
    mapping: list[WeightMap]
    rows: list[ParityRow]
    code: list[str] = field(default_factory=list)  # torch lines the user adds after the module
    assumed: list[str] = field(default_factory=list)  # Keras settings assumed, not read

    @property
    def verdict(self) -> str:
        """``fail`` where a row fails; ``unchecked`` where the Keras layers run were rebuilt
        with assumed settings (what they compute may not be the model's); else ``pass``."""
        if not all(row.ok for row in self.rows):
            return "fail"
        return "unchecked" if self.assumed else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "torch_prefix": self.prefix,
            "keras_layers": self.keras_layers,
            "spec": self.spec.to_spec_string(),
            "mapping": [row.to_dict() for row in self.mapping],
            "torch_code": self.code,
            "assumed": self.assumed,
            "parity": [row.to_dict() for row in self.rows],
            "verdict": self.verdict,
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
    not_converted: list[str] = field(default_factory=list)  # tensors or layers left behind

    @property
    def verdict(self) -> str:
        """``fail`` (nothing written), ``unchecked`` (written, some settings assumed) or
        ``pass``."""
        verdicts = {module.verdict for module in self.modules}
        if not self.written or "fail" in verdicts:
            return "fail"
        return "unchecked" if "unchecked" in verdicts else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "to": self.to,
            "output": self.output,
            "written": self.written,
            "versions": self.versions,
            "modules": [module.to_dict() for module in self.modules],
            "notes": self.notes,
            "not_converted": self.not_converted,
            "verdict": self.verdict,
            "ok": self.ok,
        }
