"""rnninspect: shapes, parameters, parity and timing of PyTorch's recurrent layers.

``import rnninspect`` stays light (no torch, nothing at all): every name is imported on first
use.
"""

from __future__ import annotations

__version__ = "0.1.0"

# typing is not imported at run time: the ``rnninspect`` command imports this package before it
# can take Ctrl-C over (rnninspect.entry), and every import here widens that window
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rnninspect.api import (
        bench,
        check_vectors,
        conformance,
        convert,
        convert_to_onnx,
        diagnose,
        explain,
        infer,
        inspect_shapes,
        keras,
        load_matrix,
        matrix,
        sweep,
        vectors,
        verify,
        verify_onnx_file,
        verify_vectors,
    )
    from rnninspect.model.spec import CellKind, RNNSpec, SpecError, make_spec, resolve

#: One function per command, as ``rnninspect.api`` has them.
COMMANDS = (
    "bench",
    "check_vectors",
    "conformance",
    "convert",
    "convert_to_onnx",
    "diagnose",
    "explain",
    "infer",
    "inspect_shapes",
    "keras",
    "load_matrix",
    "matrix",
    "sweep",
    "vectors",
    "verify",
    "verify_onnx_file",
    "verify_vectors",
)

__all__ = [
    "CellKind",
    "RNNSpec",
    "SpecError",
    "__version__",
    "bench",
    "check_vectors",
    "conformance",
    "convert",
    "convert_to_onnx",
    "diagnose",
    "explain",
    "infer",
    "inspect_shapes",
    "keras",
    "load_matrix",
    "make_spec",
    "matrix",
    "resolve",
    "sweep",
    "vectors",
    "verify",
    "verify_onnx_file",
    "verify_vectors",
]


def __getattr__(name: str) -> Any:
    """Import on first use: the package itself imports nothing, so the ``rnninspect`` command
    handles Ctrl-C from its first moment."""
    if name in COMMANDS:
        from rnninspect import api

        return getattr(api, name)
    if name in ("CellKind", "RNNSpec", "SpecError", "make_spec", "resolve"):
        from rnninspect.model import spec

        return getattr(spec, name)
    raise AttributeError(f"module 'rnninspect' has no attribute {name!r}")
