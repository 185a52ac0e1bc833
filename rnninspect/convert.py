"""``rnninspect convert``: the recurrent weights of a torch checkpoint to a Keras file, and of a
Keras file to a torch state dict, with the mapping ``rnninspect keras`` prints.

Nothing takes the output's place until every converted module has been run in both frameworks
from the file as it will be read back (Keras from the ``.keras``/``.weights.h5`` written, torch
from the state dict written) and matched on the same input and initial state.

Names. torch's module ``encoder.rnn`` becomes the Keras layers ``encoder__rnn_l0``,
``encoder__rnn_l1``, ... (Keras names cannot hold a dot); a bare module's layers are ``l0``,
``l1``, ...; a Cell becomes ``keras.layers.RNN(cell)`` named after its prefix (``cell`` when
bare). Going back, layers named ``<base>_l0`` .. ``<base>_l<K-1>`` with the same settings, each
as wide as the one below's output, become one torch module ``<base>`` with num_layers=K (``__``
read as ``.``); any other recurrent layer becomes a module of one layer under its own name, and
``keras.layers.RNN`` around a cell becomes torch's Cell. A ``.weights.h5`` file keeps neither
names nor settings: its layers are named as Keras stores them (``lstm``, ``bidirectional_1``),
read from their shapes, and a SimpleRNN is taken to use tanh unless ``--nonlinearity`` says.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnninspect import keras as mapping
from rnninspect.checkpoint import CheckpointError
from rnninspect.spec import RNNSpec, SpecError, make_spec
from rnninspect.text import one_line, printable

#: The files each direction writes, by how their names end.
WRITES = {"keras": (".keras", ".weights.h5"), "torch": (".pt", ".pth", ".safetensors")}

_STACKED = re.compile(r"^(?:(?P<base>.+)_)?l(?P<layer>\d+)$")
_FAMILIES = {1: "rnn", 3: "gru", 4: "lstm"}


@dataclass
class Pair:
    """One torch module and the Keras layers that hold its weights."""

    prefix: str  # torch's module prefix; "" for a bare state dict
    names: list[str]  # the Keras layers', one per torch layer (one for a Cell)
    spec: RNNSpec
    state: dict[str, Tensor]  # torch's parameters, without the prefix
    layers: list[Any] = field(default_factory=list)  # Keras's, when the source is Keras


def ending(path: Path, to: str, option: str) -> str:
    """Which of the formats ``to`` writes ``path`` names; a clear refusal otherwise."""
    for end in WRITES[to]:
        if path.name.lower().endswith(end) and len(path.name) > len(end):
            return end
    known = ", ".join(WRITES[to])
    raise SpecError(f"{option} {path}: --to {to} writes {known}; name the file with one of them")


def source_kind(path: Path) -> str:
    """``torch`` or ``keras``: what the input file is, by its name."""
    name = path.name.lower()
    return "keras" if name.endswith(WRITES["keras"]) else "torch"


def keras_names(prefix: str, spec: RNNSpec) -> list[str]:
    """The Keras layer names of a torch module (see the module's docstring)."""
    if "/" in prefix:
        raise SpecError(f"module {printable(prefix)!r}: Keras layer names cannot hold '/'")
    base = prefix.replace(".", "__")
    if spec.cell.is_cell:
        return [base or "cell"]
    return [f"{base}_l{k}" if base else f"l{k}" for k in range(spec.num_layers)]


def _joined(key: str, prefix: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ---------------------------------------------------------------------------------------------
# torch -> Keras


def from_torch(
    path: Path, prefix: str | None, nonlinearity: str | None
) -> tuple[list[Pair], list[str]]:
    """The recurrent modules of a checkpoint (read as ``infer`` reads it), ready for Keras."""
    from rnninspect.checkpoint import dense, load_tensors
    from rnninspect.infer import Inconsistent, Inferred, infer_modules, select, spec_with_weights
    from rnninspect.reparam import rebuild

    tensors, notes = rebuild(load_tensors(path))
    found = infer_modules({name: tuple(value.shape) for name, value in tensors.items()})
    chosen: list[Inferred | Inconsistent] = found
    if prefix is not None:
        chosen = [select(found, prefix, str(path))]
    if not chosen:
        raise SpecError(f"{path}: no recurrent module in it")
    pairs = []
    for module in chosen:
        where = f"{path}: " + (
            f"module {printable(module.prefix)!r}" if module.prefix else "the module"
        )
        if isinstance(module, Inconsistent):
            raise SpecError(f"{where} cannot convert: {module.problem}; --prefix picks another")
        given = {"nonlinearity": nonlinearity or "tanh"} if module.spec.cell.family == "rnn" else {}
        spec = spec_with_weights(module, given)
        if spec.proj_size:
            raise SpecError(
                f"{where} cannot convert: proj_size={spec.proj_size}, and Keras's LSTM has no "
                "projection (h_t = W_hr (o * tanh(c_t)))"
            )
        state = {}
        for name in module.shapes:
            value = dense(tensors[_joined(name, module.prefix)], name, path)
            if value.dtype == torch.float64:
                raise SpecError(
                    f"{where} cannot convert exactly: its weights are float64 and Keras layers "
                    "hold float32; convert a float32 copy"
                )
            state[name] = value
        pairs.append(Pair(module.prefix, keras_names(module.prefix, spec), spec, state))
    if nonlinearity is None and any(p.spec.cell.family == "rnn" for p in pairs):
        notes.append(
            "weights do not record an RNN's nonlinearity: tanh assumed (--nonlinearity relu "
            "for ReLU RNNs)"
        )
    if any(v.dtype != torch.float32 for p in pairs for v in p.state.values()):
        notes.append("float16/bfloat16 weights are held by Keras in float32, exactly")
    return pairs, notes


def keras_model(keras: Any, pairs: list[Pair]) -> Any:
    """A functional model holding every module's layers: one input per module, its layers
    stacked, and as outputs each module's output sequence and every layer's final states."""
    inputs, outputs = [], []
    for pair in pairs:
        spec = pair.spec
        base = pair.prefix.replace(".", "__") or "module"
        x = keras.Input((None, spec.input_size), name=f"{base}_input")
        inputs.append(x)
        states = []
        for name in pair.names:
            if spec.cell.is_cell:
                cell = mapping.make_layer(keras, spec)
                layer = keras.layers.RNN(cell, return_sequences=True, return_state=True, name=name)
            else:
                layer = mapping.make_layer(keras, spec, name=name)
            x, *last = layer(x)
            states += last
        outputs += [x, *states]
    return keras.Model(inputs, outputs)


def write_keras(keras: Any, pairs: list[Pair], path: Path, end: str) -> None:
    model = keras_model(keras, pairs)
    for pair in pairs:
        for name, weights in zip(
            pair.names, mapping.keras_weights(pair.spec, pair.state), strict=True
        ):
            model.get_layer(name).set_weights(weights)
    if end == ".keras":
        model.save(path)
    else:
        model.save_weights(path)


def read_keras_back(keras: Any, pairs: list[Pair], path: Path, end: str) -> None:
    """Each pair's Keras layers as a user would get them from the file just written."""
    if end == ".keras":
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    else:
        model = keras_model(keras, pairs)
        model.load_weights(path)
    for pair in pairs:
        layers = [model.get_layer(name) for name in pair.names]
        pair.layers = [layer.cell for layer in layers] if pair.spec.cell.is_cell else layers


# ---------------------------------------------------------------------------------------------
# Keras -> torch


@dataclass
class _Found:
    """One recurrent Keras layer, read."""

    parts: tuple[str, ...]  # enclosing models' names, then the layer's
    spec: RNNSpec  # of this one layer
    weights: list[Any]  # get_weights(): forward's, then backward's
    layer: Any  # the Keras layer, to run


def from_keras(keras: Any, path: Path, nonlinearity: str | None) -> tuple[list[Pair], list[str]]:
    """The recurrent layers of a ``.keras`` or ``.weights.h5`` file, as torch modules."""
    notes: list[str] = []
    if path.name.lower().endswith(".keras"):
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:  # any failure of Keras's loader is an unreadable file
            raise CheckpointError(f"{path}: Keras cannot load it: {one_line(str(exc))}") from None
        found = list(_model_layers(keras, model, (), nonlinearity))
        pairs = _grouped(found)
    else:
        found = list(_weights_file_layers(keras, path, nonlinearity))
        pairs = [_pair(".".join(f.parts), [f]) for f in found]
        if nonlinearity is None and any(f.spec.cell.family == "rnn" for f in found):
            notes.append("a weights file does not record a SimpleRNN's activation: tanh assumed")
        notes.append(
            "a .weights.h5 file keeps no layer names or settings: modules are named as Keras "
            "stores the layers, and each is one layer; the .keras file keeps both"
        )
    if not pairs:
        raise SpecError(f"{path}: no SimpleRNN, LSTM or GRU layer in it")
    prefixes = [pair.prefix for pair in pairs]
    for prefix in prefixes:
        if prefixes.count(prefix) > 1:
            raise SpecError(f"{path}: two layers would become torch module {prefix!r}")
    return pairs, notes


def _model_layers(
    keras: Any, model: Any, parts: tuple[str, ...], nonlinearity: str | None
) -> Iterator[_Found]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _model_layers(keras, layer, (*parts, layer.name), nonlinearity)
            continue
        spec = _layer_spec(keras, layer, nonlinearity)
        if spec is not None:
            weights = layer.get_weights()
            runnable = layer if spec.cell.is_cell else _runnable(keras, layer, spec, weights)
            yield _Found((*parts, layer.name), spec, weights, runnable)


def _runnable(keras: Any, layer: Any, spec: RNNSpec, weights: list[Any]) -> Any:
    """The layer as the check runs it: its own class and settings, holding its weights, but
    returning the whole output sequence and the final states, as torch does."""
    config = copy.deepcopy(layer.get_config())
    inner = [config]
    if isinstance(layer, keras.layers.Bidirectional):
        inner = [config["layer"]["config"]]
        if config.get("backward_layer"):
            inner.append(config["backward_layer"]["config"])
    for settings in inner:  # one call from a given state: Keras's stateful carry plays no part
        settings.update(return_sequences=True, return_state=True, stateful=False)
    clone = type(layer).from_config(config)
    clone.build((None, None, spec.input_size))
    clone.set_weights(weights)
    return clone


def _layer_spec(keras: Any, layer: Any, nonlinearity: str | None) -> RNNSpec | None:
    """The torch configuration of one Keras layer; None for a layer that is not recurrent; a
    refusal, with the reason, for a recurrent one torch cannot compute."""
    where = f"Keras layer {layer.name!r}"
    bidirectional = isinstance(layer, keras.layers.Bidirectional)
    inner = layer.forward_layer if bidirectional else layer
    if not isinstance(inner, keras.layers.RNN):
        return None
    kinds = {keras.layers.SimpleRNNCell: "rnn", keras.layers.LSTMCell: "lstm"}
    kinds[keras.layers.GRUCell] = "gru"
    family = kinds.get(type(inner.cell))
    if family is None:
        raise SpecError(f"{where} ({type(inner).__name__}) has no torch equivalent")
    is_cell = type(inner) is keras.layers.RNN
    if bidirectional and is_cell:
        raise SpecError(f"{where}: a Bidirectional RNN(cell) has no torch Cell equivalent")
    if bidirectional and layer.merge_mode != "concat":
        raise SpecError(
            f"{where}: merge_mode={layer.merge_mode!r}, where torch concatenates the directions"
        )
    if inner.go_backwards and not bidirectional:
        raise SpecError(f"{where}: go_backwards=True; torch runs a one-way layer forwards")
    cells = [inner.cell] + ([layer.backward_layer.cell] if bidirectional else [])
    settings = [_cell_settings(cell, family, where) for cell in cells]
    if len(set(settings)) > 1:
        raise SpecError(f"{where}: its two directions differ in size or settings")
    units, use_bias, activation = settings[0]
    if nonlinearity is not None and family == "rnn" and nonlinearity != activation:
        raise SpecError(f"--nonlinearity {nonlinearity}: {where} uses {activation}")
    kernel = cells[0].kernel
    options: dict[str, Any] = {"nonlinearity": activation} if family == "rnn" else {}
    if not is_cell:
        options["bidirectional"] = bidirectional
    return make_spec(
        cell=family + ("_cell" if is_cell else ""),
        input_size=int(kernel.shape[0]),
        hidden_size=units,
        bias=use_bias,
        **options,
    )


def _cell_settings(cell: Any, family: str, where: str) -> tuple[int, bool, str]:
    activation = getattr(cell.activation, "__name__", str(cell.activation))
    recurrent = getattr(getattr(cell, "recurrent_activation", None), "__name__", "sigmoid")
    if family == "rnn" and activation not in ("tanh", "relu"):
        raise SpecError(f"{where}: activation {activation!r}; torch's RNN has tanh or relu")
    if family != "rnn" and (activation, recurrent) != ("tanh", "sigmoid"):
        raise SpecError(
            f"{where}: activation {activation!r} and recurrent_activation {recurrent!r}; "
            "torch's gates are fixed to tanh and sigmoid"
        )
    if family == "gru" and not cell.reset_after:
        raise SpecError(f"{where}: {_RESET_BEFORE}")
    return int(cell.units), bool(cell.use_bias), activation


_RESET_BEFORE = (
    "a GRU with reset_after=False, which no torch module computes (n = tanh(W_in x + b_in + "
    "W_hn (r * h)) where torch has r * (W_hn h + b_hn)); rnninspect keras SPEC "
    "--no-reset-after --check checks such a layer against rnninspect's reference"
)


def _weights_file_layers(keras: Any, path: Path, nonlinearity: str | None) -> Iterator[_Found]:
    """The recurrent layers of a Keras 3 ``.weights.h5``, read from their shapes with h5py."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CheckpointError(f"{path}: not a readable HDF5 file: {one_line(str(exc))}") from None
    with handle:
        yield from _h5_layers(keras, handle, (), nonlinearity, path)


def _h5_layers(
    keras: Any, group: Any, parts: tuple[str, ...], nonlinearity: str | None, path: Path
) -> Iterator[_Found]:
    layers = group.get("layers")
    if layers is None:
        return
    for name, sub in layers.items():
        where = f"{path}: layer {'/'.join((*parts, name))!r}"
        if "cell" in sub:
            directions = [sub["cell"]]
        elif "forward_layer" in sub and "backward_layer" in sub:
            directions = [sub["forward_layer"]["cell"], sub["backward_layer"]["cell"]]
        else:
            yield from _h5_layers(keras, sub, (*parts, name), nonlinearity, path)
            continue
        weights = [v for cell in directions for v in _h5_vars(cell, where)]
        spec = _shapes_spec(weights, len(directions), nonlinearity, where)
        layer = mapping.make_layer(keras, spec)
        layer.build((None, None, spec.input_size))
        try:
            layer.set_weights(weights)
        except ValueError as exc:
            raise CheckpointError(f"{where}: {one_line(str(exc))}") from None
        yield _Found((*parts, name), spec, weights, layer)


def _h5_vars(cell: Any, where: str) -> list[Any]:
    import numpy as np

    variables = cell.get("vars")
    if variables is None or not set(variables) <= {"0", "1", "2"} or len(variables) < 2:
        raise CheckpointError(f"{where}: not a Keras 3 recurrent cell's weights")
    return [np.asarray(variables[key]) for key in sorted(variables, key=int)]


def _shapes_spec(
    weights: list[Any], directions: int, nonlinearity: str | None, where: str
) -> RNNSpec:
    per = len(weights) // directions
    kernel, recurrent = weights[0], weights[1]
    if kernel.ndim != 2 or recurrent.ndim != 2 or kernel.shape[1] != recurrent.shape[1]:
        raise CheckpointError(f"{where}: not a Keras recurrent cell's weights")
    hidden = recurrent.shape[0]
    gates = recurrent.shape[1] // hidden if hidden and recurrent.shape[1] % hidden == 0 else 0
    family = _FAMILIES.get(gates)
    if family is None:
        raise CheckpointError(f"{where}: {recurrent.shape[1]} columns for {hidden} units")
    if family == "gru" and per == 2:
        raise SpecError(
            f"{where}: a GRU without bias, and a weights file does not say whether it has "
            "reset_after; convert the .keras file"
        )
    if family == "gru" and weights[2].ndim == 1:
        raise SpecError(f"{where}: {_RESET_BEFORE}")
    options: dict[str, Any] = {"nonlinearity": nonlinearity or "tanh"} if family == "rnn" else {}
    return make_spec(
        cell=family,
        input_size=int(kernel.shape[0]),
        hidden_size=int(hidden),
        bias=per == 3,
        bidirectional=directions == 2,
        **options,
    )


def _grouped(found: list[_Found]) -> list[Pair]:
    """Stacks named ``<base>_l0 .. _l<K-1>`` become one module of K layers; see the docstring."""
    stacks: dict[tuple[tuple[str, ...], str], dict[int, _Found]] = {}
    for item in found:
        match = _STACKED.match(item.parts[-1])
        if match and not item.spec.cell.is_cell:
            key = (item.parts[:-1], match.group("base") or "")
            stacks.setdefault(key, {})[int(match.group("layer"))] = item
    pairs: list[Pair] = []
    taken: set[int] = set()
    for (parents, base), layers in stacks.items():
        ordered = [layers[k] for k in sorted(layers)]
        if _one_module(ordered):
            pairs.append(_pair(".".join((*parents, base)).strip("."), ordered))
            taken |= {id(item) for item in ordered}
    for item in found:
        if id(item) not in taken:
            pairs.append(_pair(".".join(item.parts), [item]))
    return pairs


def _one_module(layers: list[_Found]) -> bool:
    """Whether these layers, in order, are the layers of one torch module."""
    first = layers[0].spec
    names = [int(_STACKED.match(item.parts[-1]).group("layer")) for item in layers]  # type: ignore[union-attr]
    if names != list(range(len(layers))):
        return False
    same = ("cell", "hidden_size", "bias", "bidirectional", "nonlinearity")
    width = first.num_directions * first.hidden_size
    for item in layers[1:]:
        spec = item.spec
        if any(getattr(spec, key) != getattr(first, key) for key in same):
            return False
        if spec.input_size != width:
            return False
    return True


def _pair(prefix: str, layers: list[_Found]) -> Pair:
    prefix = prefix.replace("__", ".")
    first = layers[0].spec
    spec = first if first.cell.is_cell else dataclasses.replace(first, num_layers=len(layers))
    state = mapping.torch_state(spec, [item.weights for item in layers])
    tensors = {name: torch.from_numpy(value) for name, value in state.items()}
    names = [item.parts[-1] for item in layers]
    runnable = [item.layer.cell if spec.cell.is_cell else item.layer for item in layers]
    return Pair(prefix, names, spec, tensors, runnable)


def write_torch(pairs: list[Pair], path: Path, end: str) -> None:
    state = {_joined(k, p.prefix): v.contiguous() for p in pairs for k, v in p.state.items()}
    if end == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)


def read_torch_back(pairs: list[Pair], path: Path) -> None:
    """Each pair's torch state as ``--weights`` would read it from the file just written."""
    from rnninspect.checkpoint import load_tensors

    tensors = load_tensors(path)
    for pair in pairs:
        pair.state = {name: tensors[_joined(name, pair.prefix)] for name in pair.state}
