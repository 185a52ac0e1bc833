"""Keras to torch: the recurrent layers of a Keras model, read from the model itself.

A ``.keras`` file (or a ``.weights.h5`` file with the model's architecture beside it, as
``model.to_json()`` writes it) is loaded by Keras, and its layers are read as Keras built them:

- every ``SimpleRNN``/``LSTM``/``GRU`` layer, ``keras.layers.RNN`` over one of their cells or over
  stacked cells, and ``Bidirectional`` around any of these, becomes a torch module, with the
  settings that torch computes exactly and the one line of torch code that a setting needs
  where no ``nn`` module has it (``go_backwards``, a ``merge_mode`` other than concat, a
  ``return_sequences=False`` output); a setting that torch cannot compute is refused with why;
- layers named ``<base>_l0``, ``<base>_l1``, ... become one torch module of several layers only
  where the model's graph feeds each one's output sequence straight into the next, and nowhere
  else (:func:`_feeds`);
- every other layer is named as left behind (:func:`left_behind`), with what torch needs instead
  where it changes what the recurrent layers compute (``Masking``).

The check runs the user's own layer objects, as loaded, on the example sequence from their zero
initial state (as the model runs them) and compares each of their outputs with the torch result
it stands for (:mod:`rnninspect.commands.keras.check`).

A ``.weights.h5`` file alone holds no settings. Its layers can only be rebuilt with Keras's
defaults, which may not be the user's (``go_backwards``, ``activation``, ...): rnninspect reads it
that way only when asked (``--assume-defaults``), names every setting it assumed, and calls the
result ``unchecked``, never ``pass`` (:mod:`rnninspect.commands.keras.weights_only`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnninspect.base.text import one_line, printable
from rnninspect.commands.keras import mapping
from rnninspect.files.checkpoint import CheckpointError
from rnninspect.model.spec import RNNSpec, SpecError, make_spec

_STACKED = re.compile(r"^(?:(?P<base>.+)_)?l(?P<layer>\d+)$")

#: torch code for each Keras ``merge_mode`` but concat, from torch's concatenated output.
MERGES = {
    "sum": "output[..., :{h}] + output[..., {h}:]",
    "ave": "(output[..., :{h}] + output[..., {h}:]) / 2",
    "mul": "output[..., :{h}] * output[..., {h}:]",
}


@dataclass(frozen=True)
class View:
    """What one Keras layer returns, so that each of its outputs can be set beside the torch
    result it stands for: the torch layers it holds, and its return settings."""

    name: str
    first: int  # the torch layer of its first (stacked cells: several)
    count: int
    return_sequences: bool = True
    return_state: bool = True
    merge_mode: str | None = "concat"
    go_backwards: bool = False


@dataclass
class KerasModule:
    """One torch module made from Keras layers, with what it takes to check it."""

    prefix: str
    names: list[str]
    spec: RNNSpec
    state: dict[str, Tensor]
    layers: list[Any]  # the user's Keras layers, as loaded (rebuilt ones for assumed settings)
    views: list[View]
    code: list[str] = field(default_factory=list)  # torch lines the user must add
    assumed: list[str] = field(default_factory=list)  # settings not read, but assumed

    @property
    def state_dtype(self) -> torch.dtype:
        return next(iter(self.state.values())).dtype


# ---------------------------------------------------------------------------------------------
# Loading


def load_model(keras: Any, path: Path, architecture: Path | None) -> Any:
    """The user's model: a ``.keras`` file (safe mode), or a ``.weights.h5`` file loaded into
    the model that ``architecture`` (``model.to_json()``, or a ``.keras`` archive's
    ``config.json``) describes."""
    try:
        if architecture is None:
            return keras.saving.load_model(path, safe_mode=True, compile=False)
        text = architecture.read_text()
        json.loads(text)  # not JSON: said as such, before Keras reads it
        model = keras.models.model_from_json(text)
    except Exception as exc:  # any failure of Keras's loader is an unreadable file
        where = path if architecture is None else architecture
        raise CheckpointError(f"{where}: Keras cannot load it: {one_line(str(exc))}") from None
    try:
        model.load_weights(path)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: its weights do not fit the architecture in {architecture}: "
            f"{one_line(str(exc))}"
        ) from None
    return model


@dataclass
class _Found:
    """One recurrent Keras layer, read."""

    parts: tuple[str, ...]  # enclosing models' names, then the layer's
    spec: RNNSpec  # of the torch module it is on its own
    weights: list[list[Any]]  # per torch layer: its get_weights() share, forward then backward
    layer: Any
    view: View


def from_model(keras: Any, model: Any) -> tuple[list[KerasModule], list[str]]:
    """The recurrent layers of a loaded model as torch modules, and the notes on the rest."""
    found = list(_model_layers(keras, model, ()))
    modules = _grouped(found)
    return modules, left_behind(keras, model, ())


def _model_layers(keras: Any, model: Any, parts: tuple[str, ...]) -> Iterator[_Found]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _model_layers(keras, layer, (*parts, layer.name))
            continue
        read = _read_layer(keras, layer)
        if read is not None:
            spec, weights, view = read
            yield _Found((*parts, layer.name), spec, weights, layer, view)


def _recurrent(keras: Any, layer: Any) -> tuple[bool, Any] | None:
    """(bidirectional, the one-way RNN layer inside) for a recurrent layer, else None."""
    if isinstance(layer, keras.layers.Bidirectional):
        return True, layer.forward_layer
    if isinstance(layer, keras.layers.RNN):
        return False, layer
    return None


def _cells(keras: Any, inner: Any) -> list[Any]:
    cell = inner.cell
    if isinstance(cell, keras.layers.StackedRNNCells):
        return list(cell.cells)
    return [cell]


def _read_layer(keras: Any, layer: Any) -> tuple[RNNSpec, list[list[Any]], View] | None:
    """The torch configuration, weights per torch layer, and view of one Keras layer; None for
    a layer that is not recurrent; a refusal, with the reason, for a recurrent one that torch
    cannot compute."""
    recurrent = _recurrent(keras, layer)
    if recurrent is None:
        return None
    bidirectional, inner = recurrent
    where = f"Keras layer {printable(layer.name)!r}"
    kinds = {
        keras.layers.SimpleRNNCell: "rnn",
        keras.layers.LSTMCell: "lstm",
        keras.layers.GRUCell: "gru",
    }
    cells = _cells(keras, inner)
    families = [kinds.get(type(cell)) for cell in cells]
    if None in families:
        raise SpecError(f"{where} ({type(inner.cell).__name__}) has no torch equivalent")
    if len(set(families)) > 1:
        raise SpecError(f"{where}: stacked cells of different kinds, which no torch module is")
    family = str(families[0])
    stacked = len(cells) > 1
    if bidirectional and stacked:
        raise SpecError(
            f"{where}: Bidirectional over stacked cells runs each direction's stack on its own, "
            "where torch's layer k+1 reads both directions of layer k; no torch module computes it"
        )
    if bidirectional and inner.go_backwards:
        raise SpecError(
            f"{where}: Bidirectional around a layer with go_backwards=True runs its 'forward' "
            "direction backwards; torch's directions are fixed"
        )
    sides = [cells] + ([_cells(keras, layer.backward_layer)] if bidirectional else [])
    settings = [_cell_settings(cell, family, where) for side in sides for cell in side]
    units, use_bias, activation = settings[0]
    if any(s[1:] != settings[0][1:] for s in settings):
        raise SpecError(f"{where}: its cells or directions differ in settings")
    if bidirectional and {s[0] for s in settings} != {units}:
        raise SpecError(f"{where}: its two directions differ in size")
    one_cell = type(inner) is keras.layers.RNN and not bidirectional and not stacked
    options: dict[str, Any] = {"nonlinearity": activation} if family == "rnn" else {}
    if not one_cell:
        options["bidirectional"] = bidirectional
        options["num_layers"] = len(cells)
    if stacked and len({s[0] for s in settings}) > 1:
        raise SpecError(f"{where}: stacked cells of different sizes, where torch's are one size")
    spec = make_spec(
        cell=family + ("_cell" if one_cell else ""),
        input_size=int(cells[0].kernel.shape[0]),
        hidden_size=units,
        bias=use_bias,
        **options,
    )
    weights = _per_torch_layer(layer.get_weights(), len(cells), 2 if bidirectional else 1, use_bias)
    view = View(
        layer.name,
        0,
        len(cells),
        bool(layer.return_sequences),
        bool(layer.return_state),
        layer.merge_mode if bidirectional else "concat",
        bool(inner.go_backwards),
    )
    return spec, weights, view


def _per_torch_layer(
    weights: list[Any], layers: int, directions: int, bias: bool
) -> list[list[Any]]:
    """A Keras layer's get_weights() cut into each torch layer's share (its directions'
    kernel, recurrent kernel and bias, forward first). A Bidirectional layer keeps the
    forward layer's weights, then the backward's; stacked cells keep each cell's in turn."""
    per = 3 if bias else 2
    if directions == 2:
        return [weights]
    return [weights[k * per : (k + 1) * per] for k in range(layers)]


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
        raise SpecError(f"{where}: {RESET_BEFORE}")
    return int(cell.units), bool(cell.use_bias), activation


RESET_BEFORE = (
    "a GRU with reset_after=False, which no torch module computes (n = tanh(W_in x + b_in + "
    "W_hn (r * h)) where torch has r * (W_hn h + b_hn)); rnninspect keras SPEC "
    "--no-reset-after --check checks such a layer against rnninspect's reference"
)


def torch_code(spec: RNNSpec, view: View) -> list[str]:
    """The lines of torch code that, after the module, compute what the Keras layer returns
    where no ``nn`` module setting does."""
    lines = []
    state = "(h, c)" if spec.has_cell_state else "h"
    if spec.cell.is_cell:
        lines.append(
            f"for x_t in x: {'h, c' if spec.has_cell_state else 'h'} = cell(x_t, {state})  "
            "# keras.layers.RNN(cell) steps the cell over the sequence"
        )
    if view.go_backwards:
        finals = "(h_n, c_n)" if spec.has_cell_state else "h_n"
        target = (
            "for x_t in x.flip(0): ..."
            if spec.cell.is_cell
            else (f"output, {finals} = rnn(x.flip(0))")
        )
        lines.append(
            f"{target}  # go_backwards=True: the sequence read from its last step, the output "
            "in that order too (x.flip(1) with batch_first=True)"
        )
    hidden = spec.hidden_size
    if not view.return_sequences and not spec.cell.is_cell:
        if spec.bidirectional:
            lines.append(
                "output = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # return_sequences=False: each "
                "direction's last step (the backward direction's is at t=0, not output[-1])"
            )
        else:
            lines.append("output = output[-1]  # return_sequences=False: the last step's output")
    if spec.bidirectional and view.merge_mode in MERGES:
        merged = MERGES[str(view.merge_mode)].format(h=hidden)
        lines.append(f"output = {merged}  # merge_mode={view.merge_mode!r}")
    elif spec.bidirectional and view.merge_mode is None:
        lines.append(
            f"forward, backward = output[..., :{hidden}], output[..., {hidden}:]  "
            "# merge_mode=None: the two directions' outputs apart"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Stacks, by the graph


def _feeds(lower: Any, upper: Any) -> bool:
    """Whether the model's graph feeds ``lower``'s output sequence into ``upper`` and nowhere
    else, with nothing between and no initial state given to ``upper``: then the two are layers
    of one torch module."""
    nodes, below = getattr(upper, "_inbound_nodes", []), getattr(lower, "_inbound_nodes", [])
    if len(nodes) != 1 or len(below) != 1:
        return False  # a layer called twice, or never in a graph (a subclassed model)
    arguments = getattr(nodes[0], "arguments", None)
    if arguments is None or len(arguments.args) != 1:
        return False
    if arguments.kwargs.get("initial_state") is not None:
        return False
    history = getattr(arguments.args[0], "_keras_history", None)
    if history is None or history.operation is not lower or history.tensor_index != 0:
        return False
    return len(getattr(lower, "_outbound_nodes", [])) == 1 and bool(lower.return_sequences)


def _grouped(found: list[_Found]) -> list[KerasModule]:
    """Layers named ``<base>_l0 .. _l<K-1>`` become one module of K layers where each feeds the
    next (:func:`_feeds`); every other layer is a module of its own."""
    stacks: dict[tuple[tuple[str, ...], str], dict[int, _Found]] = {}
    for item in found:
        match = _STACKED.match(item.parts[-1])
        if match and not item.spec.cell.is_cell:
            key = (item.parts[:-1], match.group("base") or "")
            stacks.setdefault(key, {})[int(match.group("layer"))] = item
    modules: list[KerasModule] = []
    taken: set[int] = set()
    for (parents, base), layers in stacks.items():
        ordered = [layers[k] for k in sorted(layers)]
        if _one_module(ordered):
            modules.append(_module(".".join((*parents, base)).strip("."), ordered))
            taken |= {id(item) for item in ordered}
    for item in found:
        if id(item) not in taken:
            modules.append(_module(lone_prefix(item.parts), [item]))
    return modules


def lone_prefix(parts: tuple[str, ...]) -> str:
    """torch's module name for a lone layer: its path; ``cell`` alone, the name a bare torch
    Cell's layer is given on the way to Keras, is the bare module again."""
    if parts == ("cell",):
        return ""
    return ".".join(parts)


def _one_module(layers: list[_Found]) -> bool:
    """Whether these layers, in order, are the layers of one torch module: numbered from 0,
    alike, each as wide as the one below's output, and connected straight by the graph."""
    first = layers[0].spec
    names = [int(_STACKED.match(item.parts[-1]).group("layer")) for item in layers]  # type: ignore[union-attr]
    if names != list(range(len(layers))):
        return False
    same = ("cell", "hidden_size", "bias", "bidirectional", "nonlinearity")
    width = first.num_directions * first.hidden_size
    for lower, upper in itertools.pairwise(layers):
        spec = upper.spec
        if any(getattr(spec, key) != getattr(first, key) for key in same):
            return False
        if spec.input_size != width or spec.num_layers != 1 or lower.spec.num_layers != 1:
            return False
        if lower.view.go_backwards or upper.view.go_backwards:
            return False  # each layer would reverse its own input again
        if lower.view.merge_mode != "concat" or not _feeds(lower.layer, upper.layer):
            return False
    return True


def _module(prefix: str, layers: list[_Found]) -> KerasModule:
    prefix = prefix.replace("__", ".")
    first = layers[0].spec
    count = sum(item.spec.num_layers if not first.cell.is_cell else 1 for item in layers)
    spec = first if first.cell.is_cell else dataclasses.replace(first, num_layers=count)
    weights = [share for item in layers for share in item.weights]
    state = mapping.torch_state(spec, weights)
    tensors = {name: torch.from_numpy(value) for name, value in state.items()}
    views, start = [], 0
    for item in layers:
        views.append(dataclasses.replace(item.view, first=start))
        start += item.view.count
    code = torch_code(spec, views[-1])  # a stack is never go_backwards (_one_module)
    return KerasModule(
        prefix,
        [item.parts[-1] for item in layers],
        spec,
        tensors,
        [item.layer for item in layers],
        views,
        code,
    )


# ---------------------------------------------------------------------------------------------
# What is left behind


def left_behind(keras: Any, model: Any, parts: tuple[str, ...]) -> list[str]:
    """Every layer of the model that is not converted, and its weights; for ``Masking``, what
    torch needs instead, since it changes what the recurrent layers after it compute."""
    notes = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            notes += left_behind(keras, layer, (*parts, layer.name))
            continue
        if _recurrent(keras, layer) is not None or isinstance(layer, keras.layers.InputLayer):
            continue
        name = "/".join((*parts, layer.name))
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.Masking):
            notes.append(
                f"Keras layer {name!r} (Masking, mask_value={layer.mask_value}): Keras skips the "
                "masked steps of the recurrent layers after it; torch has no mask: pack the "
                "batch with torch.nn.utils.rnn.pack_padded_sequence(x, lengths, "
                "enforce_sorted=False), or those layers compute over the padding too"
            )
            continue
        shapes = ", ".join(str(list(w.shape)) for w in layer.weights)
        held = f"; weights {shapes}" if shapes else ""
        notes.append(f"Keras layer {name!r} ({kind}{held}): not recurrent")
    return notes
