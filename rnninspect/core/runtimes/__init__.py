"""The runtimes a recurrent module is deployed on, each judged against the same reference.

One module per runtime, one small interface (:mod:`rnninspect.core.runtimes.base`): ``prepare``
turns the module into the runtime's artefact once, at the example shapes, and the :class:`Prepared`
it returns runs that artefact on given inputs, of these shapes or others. What a runtime cannot
do is a :class:`RuntimeFailed` with the runtime's own message; a runtime whose packages are not
installed is :class:`RuntimeUnavailable` (exit 3). A new runtime is a module here and one line
in :data:`RUNTIMES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from torch import Tensor, nn

from rnninspect.core.runtimes.base import (
    Prepared,
    RuntimeFailed,
    RuntimeOptions,
    RuntimeUnavailable,
)
from rnninspect.model.spec import RNNSpec, SpecError

#: Runtime names, in the order they are reported, and the module that implements each.
RUNTIMES = {
    "eager": "rnninspect.core.runtimes.eager",
    "compile": "rnninspect.core.runtimes.compiled",
    "export": "rnninspect.core.runtimes.exported",
    "onnx": "rnninspect.core.runtimes.onnx",
}

__all__ = ["RUNTIMES", "Prepared", "RuntimeFailed", "RuntimeUnavailable", "parse", "prepare"]


def parse(values: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``--runtime eager,onnx`` (comma-separated or repeated) as names, in report order."""
    if values is None:
        return ("eager",)
    items = [values] if isinstance(values, str) else list(values)
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    for name in names:
        if name not in RUNTIMES:
            choices = ", ".join(RUNTIMES)
            raise SpecError(f"--runtime must be one of {choices}, got {name!r}")
    if not names:
        raise SpecError("--runtime needs at least one of " + ", ".join(RUNTIMES))
    return tuple(name for name in RUNTIMES if name in names)


def prepare(
    name: str,
    module: nn.Module,
    spec: RNNSpec,
    inputs: Mapping[str, Tensor],
    settings: RuntimeOptions,
) -> Prepared:
    """The module made into runtime ``name``'s artefact at the shapes of ``inputs``."""
    implementation = importlib.import_module(RUNTIMES[name])
    prepared: Prepared = implementation.prepare(module, spec, inputs, settings)
    return prepared
