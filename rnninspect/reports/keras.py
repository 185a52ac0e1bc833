"""``rnninspect keras``: the Keras layers, the weight mapping, and with --check both run.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.core.parity import ParityRow


@dataclass(frozen=True)
class WeightMap:
    """One Keras weight and the torch parameters it is made from."""

    layer: int
    direction: str
    keras: str
    keras_shape: tuple[int, ...]
    torch: tuple[str, ...]
    torch_shape: tuple[int, ...]
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "direction": self.direction,
            "keras": self.keras,
            "keras_shape": list(self.keras_shape),
            "torch": list(self.torch),
            "torch_shape": list(self.torch_shape),
            "how": self.how,
        }


@dataclass(frozen=True)
class KerasReport:
    """``rnninspect keras``: the Keras layers, the weight mapping, and with --check both run."""

    spec: RNNSpec
    versions: dict[str, str]
    code: list[str]
    mapping: list[WeightMap]
    notes: list[str]
    limits: list[str]
    rows: list[ParityRow] | None = None
    keras_version: str | None = None
    reset_after: bool | None = None  # the Keras GRU setting; None for RNN and LSTM
    check_not_run: str | None = None  # why --check, asked for, ran nothing

    @property
    def ok(self) -> bool:
        """No limit, and with --check every row passes."""
        return not self.limits and all(row.ok for row in self.rows or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": {**self.versions, "keras": self.keras_version},
            "keras_code": self.code,
            "reset_after": self.reset_after,
            "mapping": [row.to_dict() for row in self.mapping],
            "notes": self.notes,
            "limits": self.limits,
            "parity": None if self.rows is None else [row.to_dict() for row in self.rows],
            "check_not_run": self.check_not_run,
            "ok": self.ok,
        }
