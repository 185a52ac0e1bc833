"""The check of a Keras to torch conversion: the user's own Keras layers on a sequence, and the
torch result each of their outputs stands for.

Both sides start from a zero state, as a model runs its layers: the Keras side calls the layer
objects as loaded, each on the output sequence of the one below (:func:`keras_side`); the torch
side runs torch's module read back from the file written, with the torch code the report prints
(:func:`torch_side`); :func:`expected` pairs each Keras output with its torch result, following
the layer's own ``return_sequences``, ``return_state`` and ``merge_mode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from rnninspect.commands.keras.reading import KerasModule


def keras_side(keras: Any, module: KerasModule, x: Tensor) -> list[Tensor]:
    """Every output of the user's own layers, in order, run on ``x`` (N, L, H_in) from their
    zero initial state, each on the one below's output sequence."""
    found: list[Tensor] = []
    sequence: Any = x.to(_compute_dtype(module.layers[0]))
    for layer in module.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()  # from zeros, as a fresh model starts
        flat = [torch.as_tensor(value) for value in _flatten(layer(sequence))]
        sequence = flat[0]
        found += flat
    return found


def _compute_dtype(layer: Any) -> torch.dtype:
    dtype: torch.dtype = getattr(torch, str(getattr(layer, "compute_dtype", "float32")))
    return dtype


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [item for part in value for item in _flatten(part)]
    return [value]


def expected(module: KerasModule, results: Mapping[str, Tensor]) -> list[tuple[str, Tensor | None]]:
    """For each output of :func:`keras_side`, its row name and the torch result it stands for
    (None for a stacked layer's inner output sequence, which torch does not expose), from
    torch's results on the same sequence (``output`` batch first, ``h_n``, ``c_n``)."""
    spec = module.spec
    hidden = spec.hidden_size
    directions = spec.num_directions
    output, h_n, c_n = results["output"], results["h_n"], results.get("c_n")
    rows: list[tuple[str, Tensor | None]] = []
    for index, view in enumerate(module.views):
        top = view.first + view.count - 1
        last = index == len(module.views) - 1
        name = view.name
        halves = [output[..., :hidden], output[..., hidden:]] if directions == 2 else [output]
        if not view.return_sequences:
            halves = [h_n[top * directions + d] for d in range(directions)]
        main: list[tuple[str, Tensor | None]]
        what = "output" if view.return_sequences else "output (last step)"
        if not last:
            main = [(f"{name} {what}", None)]
        elif directions == 1 or view.merge_mode == "concat":
            main = [(f"{name} {what}", torch.cat(halves, dim=-1))]
        elif view.merge_mode is None:
            main = [(f"{name} {what}, forward", halves[0]), (f"{name} {what}, backward", halves[1])]
        else:
            forward, backward = halves
            merged = {"sum": forward + backward, "ave": (forward + backward) / 2}
            merged["mul"] = forward * backward
            main = [(f"{name} {what}, {view.merge_mode}", merged[str(view.merge_mode)])]
        rows += main
        if not view.return_state:
            continue
        for layer in range(view.first, view.first + view.count):
            for direction in range(directions):
                row = layer * directions + direction
                rows.append((f"{name} h_n[{row}]", h_n[row]))
                if c_n is not None:
                    rows.append((f"{name} c_n[{row}]", c_n[row]))
    return rows


def torch_side(module: KerasModule, torch_module: Any, x: Tensor) -> dict[str, Tensor]:
    """torch's module (holding the converted weights) on ``x`` (N, L, H_in) from a zero state,
    with the torch code :func:`torch_code` gives (the flip of go_backwards; a Cell stepped over
    the sequence): ``output`` (N, L, D*H), ``h_n`` and ``c_n`` as a module's."""
    spec = module.spec
    sequence = x.transpose(0, 1)  # (L, N, H_in), as the module takes it
    if module.views[0].go_backwards:
        sequence = sequence.flip(0)
    if not spec.cell.is_cell:
        output, finals = torch_module(sequence)
        h_n, c_n = finals if spec.has_cell_state else (finals, None)
        found = {"output": output.transpose(0, 1), "h_n": h_n}
        return found if c_n is None else {**found, "c_n": c_n}
    batch = sequence.shape[1]
    zeros = sequence.new_zeros(batch, spec.hidden_size)
    state: Any = (zeros, zeros) if spec.has_cell_state else zeros
    steps = []
    for step in sequence:
        state = torch_module(step, state)
        steps.append(state[0] if spec.has_cell_state else state)
    h = state[0] if spec.has_cell_state else state
    found = {"output": torch.stack(steps, dim=1), "h_n": h[None]}
    return {**found, "c_n": state[1][None]} if spec.has_cell_state else found
