"""``compile``: ``torch.compile`` of the module, with the backend named in the report.

Compilation happens on the first call, so that call is made here, at the example shapes: a
module the compiler refuses fails at preparation, as an exporter's refusal does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnninspect.runtimes.base import Prepared, RuntimeFailed, call
from rnninspect.spec import RNNSpec


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: Mapping[str, Any]
) -> Prepared:
    backend = str(settings.get("compile_backend") or "inductor")
    compiled = torch.compile(module, backend=backend, dynamic=None)
    run = call(compiled)
    try:
        with torch.no_grad():
            run(inputs, spec)
    except Exception as exc:
        raise RuntimeFailed("compile", exc) from None
    return Prepared(run, True, f"torch.compile, backend {backend}", dict(module.named_parameters()))
