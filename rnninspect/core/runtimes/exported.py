"""``export``: ``torch.export.export`` with the sequence length and batch marked dynamic, then
the ExportedProgram's module run as a user deploys it.

Marking L and N dynamic is the point: an export that specialises either to the example's size
works on the example and fails, or silently misbehaves, on every other.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnninspect.core.build import packed_input
from rnninspect.core.runtimes.base import Prepared, RuntimeFailed, RuntimeOptions, call
from rnninspect.model.spec import RNNSpec


def dynamic_shapes(spec: RNNSpec) -> tuple[Any, ...]:
    """torch.export's dynamic_shapes for (input, state): L and N of the input, N of h0/c0."""
    seq = torch.export.Dim("L", min=1)
    batch = torch.export.Dim("N", min=1)
    if spec.cell.is_cell:
        x: dict[int, Any] = {} if spec.unbatched else {0: batch}
        state: dict[int, Any] = {} if spec.unbatched else {0: batch}
    elif spec.unbatched:
        x, state = {0: seq}, {}
    else:
        x = {0: batch, 1: seq} if spec.batch_first else {0: seq, 1: batch}
        state = {1: batch}
    return (x, (state, state) if spec.has_cell_state else state)


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: RuntimeOptions
) -> Prepared:
    state: Any = (inputs["h0"], inputs["c0"]) if spec.has_cell_state else inputs["h0"]
    # a PackedSequence's sizes cannot be marked dynamic: it is exported as it comes
    shapes = None if spec.lengths is not None else dynamic_shapes(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(
                module, (packed_input(spec, inputs), state), dynamic_shapes=shapes
            )
    except Exception as exc:
        raise RuntimeFailed("torch.export", exc) from None
    exported = program.module()
    buffer = io.BytesIO()
    try:
        torch.export.save(program, buffer)
        artifact: bytes | None = buffer.getvalue()
    except Exception:  # saving is a convenience; the verdict does not depend on it
        artifact = None
    parameters: dict[str, Tensor] = dict(exported.named_parameters())
    return Prepared(
        call(exported),
        True,
        "torch.export (dynamic L and N), ExportedProgram.module()",
        parameters,
        artifact,
        ".pt2",
    )
