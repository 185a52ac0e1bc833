"""rnninspect: shapes, parameters, parity and timing of PyTorch's recurrent layers.

``import rnninspect`` stays light (no torch): the functions that need torch are imported from
:mod:`rnninspect.api` on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from rnninspect.spec import CellKind, RNNSpec, SpecError, make_spec, resolve

__all__ = [
    "CellKind",
    "RNNSpec",
    "SpecError",
    "__version__",
    "inspect_shapes",
    "make_spec",
    "resolve",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in ("inspect_shapes", "verify"):
        from rnninspect import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnninspect' has no attribute {name!r}")
