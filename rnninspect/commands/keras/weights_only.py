"""A Keras ``.weights.h5`` file read without its model: the layers rebuilt from their weights'
shapes with Keras's default settings, and every setting so assumed named.

A weights file holds no settings (``go_backwards``, ``activation``, ``merge_mode``, ...), so the
layers rebuilt here may compute something other than the model they came from: what they are
converted to is ``unchecked``, never ``pass`` (see :mod:`rnninspect.commands.keras.reading`,
which reads the model itself where its architecture is given).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rnninspect.base.text import one_line
from rnninspect.commands.keras import mapping
from rnninspect.commands.keras.reading import RESET_BEFORE, KerasModule, View, lone_prefix
from rnninspect.files.checkpoint import CheckpointError
from rnninspect.model.spec import RNNSpec, SpecError, make_spec

_FAMILIES = {1: "rnn", 3: "gru", 4: "lstm"}


WEIGHTS_ONLY = (
    "a .weights.h5 file holds weights alone, not the layers' settings (go_backwards, "
    "activation, merge_mode, return_sequences, ...), so what it converts to cannot be checked "
    "against the model it came from: give the model's architecture with --architecture "
    "FILE.json (model.to_json(), or config.json inside a .keras file), or convert the .keras "
    "file; --assume-defaults converts it with Keras's default settings assumed (the verdict is "
    "then 'unchecked')"
)


def from_weights_only(
    keras: Any, path: Path, nonlinearity: str | None
) -> tuple[list[KerasModule], list[str]]:
    """The recurrent layers of a Keras 3 ``.weights.h5`` file, read from their shapes with
    h5py and rebuilt with Keras's defaults: every setting assumed is listed on its module."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CheckpointError(f"{path}: not a readable HDF5 file: {one_line(str(exc))}") from None
    modules: list[KerasModule] = []
    skipped: list[str] = []
    with handle:
        for parts, weights, directions in _h5_layers(handle, (), path, skipped):
            where = f"{path}: layer {'/'.join(parts)!r}"
            spec, assumed = _shapes_spec(weights, directions, nonlinearity, where)
            layer = mapping.make_layer(keras, spec)
            layer.build((None, None, spec.input_size))
            try:
                layer.set_weights(weights)
            except ValueError as exc:
                raise CheckpointError(f"{where}: {one_line(str(exc))}") from None
            view = View(parts[-1], 0, 1)
            state = mapping.torch_state(spec, [weights])
            tensors = {name: torch.from_numpy(value) for name, value in state.items()}
            prefix = lone_prefix(parts).replace("__", ".")
            modules.append(
                KerasModule(prefix, [parts[-1]], spec, tensors, [layer], [view], [], assumed)
            )
    return modules, skipped


def _h5_layers(
    group: Any, parts: tuple[str, ...], path: Path, skipped: list[str]
) -> Iterator[tuple[tuple[str, ...], list[Any], int]]:
    """Each recurrent layer's path, weights and directions; what holds weights but is not
    recurrent is added to ``skipped``."""
    layers = group.get("layers")
    if layers is None:
        return
    for name, sub in layers.items():
        where = f"{path}: layer {'/'.join((*parts, name))!r}"
        if "cell" in sub:
            directions = [sub["cell"]]
        elif "forward_layer" in sub and "backward_layer" in sub:
            directions = [sub["forward_layer"]["cell"], sub["backward_layer"]["cell"]]
        elif "layers" in sub:
            yield from _h5_layers(sub, (*parts, name), path, skipped)
            continue
        else:
            variables = sub.get("vars")
            if variables is not None and len(variables):
                ordered = sorted(variables, key=int)
                shapes = ", ".join(str(list(variables[k].shape)) for k in ordered)
                skipped.append(
                    f"layer {'/'.join((*parts, name))!r} (weights {shapes}): not recurrent"
                )
            continue
        weights = [v for cell in directions for v in _h5_vars(cell, where)]
        yield (*parts, name), weights, len(directions)


def _h5_vars(cell: Any, where: str) -> list[Any]:
    import numpy as np

    variables = cell.get("vars")
    if variables is None or not set(variables) <= {"0", "1", "2"} or len(variables) < 2:
        raise CheckpointError(
            f"{where}: not a Keras 3 recurrent cell's weights (stacked cells and other layouts "
            "need the architecture: --architecture FILE.json)"
        )
    return [np.asarray(variables[key]) for key in sorted(variables, key=int)]


def _shapes_spec(
    weights: list[Any], directions: int, nonlinearity: str | None, where: str
) -> tuple[RNNSpec, list[str]]:
    """The torch configuration read from a layer's weight shapes, and the settings assumed."""
    per = len(weights) // directions
    kernel, recurrent = weights[0], weights[1]
    if kernel.ndim != 2 or recurrent.ndim != 2 or kernel.shape[1] != recurrent.shape[1]:
        raise CheckpointError(f"{where}: not a Keras recurrent cell's weights")
    hidden = recurrent.shape[0]
    gates = recurrent.shape[1] // hidden if hidden and recurrent.shape[1] % hidden == 0 else 0
    family = _FAMILIES.get(gates)
    if family is None:
        raise CheckpointError(f"{where}: {recurrent.shape[1]} columns for {hidden} units")
    if family == "gru" and per == 3 and weights[2].ndim == 1:
        raise SpecError(f"{where}: {RESET_BEFORE}")
    assumed = ["return_sequences=True", "return_state=True", "go_backwards=False"]
    options: dict[str, Any] = {}
    if family == "rnn":
        options["nonlinearity"] = nonlinearity or "tanh"
        if nonlinearity is None:
            assumed.append("activation='tanh'")
    else:
        assumed.append("activation='tanh', recurrent_activation='sigmoid'")
    if family == "gru" and per == 2:
        assumed.append(
            "reset_after=True (a GRU without bias has the same weights either way, but not "
            "the same results)"
        )
    if directions == 2:
        assumed.append("merge_mode='concat'")
    spec = make_spec(
        cell=family,
        input_size=int(kernel.shape[0]),
        hidden_size=int(hidden),
        bias=per == 3,
        bidirectional=directions == 2,
        **options,
    )
    return spec, assumed
