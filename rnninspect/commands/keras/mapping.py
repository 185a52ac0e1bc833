"""``rnninspect keras``: the Keras layers that compute what a torch recurrent module computes,
where every weight goes, and (``--check``) both run on the same weights and input.

Keras keeps ``kernel`` (H_in x G*H), ``recurrent_kernel`` (H x G*H) and one bias per layer and
direction; torch keeps ``weight_ih`` (G*H x H_in), ``weight_hh`` (G*H x H) and two biases. So:

- every matrix is transposed;
- SimpleRNN and LSTM add the two biases into one, which is exact because both enter the same
  sum: act(x W_ih^T + b_ih + h W_hh^T + b_hh) = act(x kernel + h recurrent_kernel + bias);
- GRU keeps both biases, stacked as a (2, 3H) bias, because torch's reset gate multiplies the
  recurrent product *with* its bias: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). That is Keras's
  ``reset_after=True``; Keras's ``reset_after=False`` (the Keras 1 / TF1 default) applies r before
  the product, which no torch module computes;
- GRU gates are ordered r, z, n in torch and z, r, h in Keras; LSTM's i, f, g, o are Keras's
  i, f, c, o.

The mapping is torch-free arithmetic on names and shapes; only ``--check`` imports Keras (run
on the torch backend, in this process), from the ``rnninspect[keras]`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rnninspect.core.devices import Unavailable
from rnninspect.model.spec import RNNSpec, SpecError
from rnninspect.reports.keras import WeightMap

INSTALL = "pip install 'rnninspect[keras]'"

#: The Keras layer and cell of each family.
KERAS_LAYER = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
KERAS_CELL = {"rnn": "SimpleRNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}

#: Where each of Keras's GRU gates (z, r, h) is in torch's (r, z, n).
GRU_FROM_TORCH = (1, 0, 2)


def refuse(spec: RNNSpec, reset_after: bool) -> None:
    """``reset_after=False`` names a GRU variant; on another family it means nothing."""
    if not reset_after and spec.cell.family != "gru":
        raise SpecError(
            f"--no-reset-after is a Keras GRU setting; nn.{spec.cell.torch_name} has no reset gate"
        )


def _layer_class(spec: RNNSpec) -> str:
    family = spec.cell.family
    return KERAS_CELL[family] if spec.cell.is_cell else KERAS_LAYER[family]


def _layer_options(spec: RNNSpec, reset_after: bool) -> dict[str, Any]:
    """The Keras arguments of the layer (or cell) that computes ``spec``'s module, in the order
    the code shows them; the ones left at Keras's defaults are left out."""
    options: dict[str, Any] = {}
    if spec.cell.family == "rnn":
        options["activation"] = spec.nonlinearity
    if not spec.cell.is_cell:
        options.update(return_sequences=True, return_state=True)
    if not spec.bias:
        options["use_bias"] = False
    if spec.cell.family == "gru":
        options["reset_after"] = reset_after
    return options


def layer_code(spec: RNNSpec, reset_after: bool = True) -> list[str]:
    """Python that builds the Keras layers, one line per torch layer (one cell for a Cell):
    what :func:`make_layer` builds."""
    refuse(spec, reset_after)
    options = ", ".join(f"{k}={v!r}" for k, v in _layer_options(spec, reset_after).items())
    layer = f"keras.layers.{_layer_class(spec)}({spec.hidden_size}, {options})"
    if spec.cell.is_cell:
        return [f"cell = {layer}"]
    if spec.bidirectional:
        layer = f"keras.layers.Bidirectional({layer})"
    return [f"layer_{index} = {layer}" for index in range(spec.num_layers)]


def suffix(spec: RNNSpec, layer: int, direction: int) -> str:
    """torch's parameter-name suffix: ``""`` for a Cell, else ``_l<layer>[_reverse]``."""
    if spec.cell.is_cell:
        return ""
    return f"_l{layer}" + ("_reverse" if direction else "")


def mapping(spec: RNNSpec, reset_after: bool = True, to_torch: bool = False) -> list[WeightMap]:
    """Every Keras weight, in the order ``set_weights`` takes them, with its torch source;
    ``to_torch`` says how each goes the other way."""
    refuse(spec, reset_after)
    rows = len(spec.cell.gate_names) * spec.hidden_size  # G*H, torch's rows and Keras's columns
    reorder = "; gates r,z,n reordered to z,r,h" if spec.cell.family == "gru" else ""
    if to_torch:
        reorder = reorder and "; gates z,r,h reordered to r,z,n"
    folded = (
        "bias -> bias_ih, bias_hh = 0 (Keras keeps only the sum)"
        if to_torch
        else ("bias_ih + bias_hh")
    )
    stacked = "bias[0] -> bias_ih, bias[1] -> bias_hh" if to_torch else "stacked [bias_ih, bias_hh]"
    found: list[WeightMap] = []
    for layer in range(spec.num_layers):
        width = spec.input_size if layer == 0 else spec.num_directions * spec.out_size
        for direction, side in enumerate(("forward", "backward")[: spec.num_directions]):
            end = suffix(spec, layer, direction)
            matrices = [
                ("kernel", (width, rows), "weight_ih", (rows, width)),
                ("recurrent_kernel", (spec.out_size, rows), "weight_hh", (rows, spec.out_size)),
            ]
            for keras, shape, torch, torch_shape in matrices:
                how = "transposed" + reorder
                found.append(WeightMap(layer, side, keras, shape, (torch + end,), torch_shape, how))
            biases = (f"bias_ih{end}", f"bias_hh{end}")
            if spec.bias and spec.cell.family == "gru" and reset_after:
                how = stacked + reorder
                found.append(WeightMap(layer, side, "bias", (2, rows), biases, (rows,), how))
            elif spec.bias:
                how = folded + reorder
                found.append(WeightMap(layer, side, "bias", (rows,), biases, (rows,), how))
            if spec.proj_size:
                how = "no Keras equivalent: Keras's LSTM has no projection"
                hr = (f"weight_hr{end}",)
                found.append(
                    WeightMap(
                        layer, side, "(none)", (), hr, (spec.proj_size, spec.hidden_size), how
                    )
                )
    return found


def limits(spec: RNNSpec) -> list[str]:
    """What has no exact Keras equivalent in this configuration."""
    found = []
    if spec.proj_size:
        found.append(
            "proj_size: torch projects h_t = W_hr (o * tanh(c_t)); Keras's LSTM has no "
            "projection, so no Keras layer computes this module"
        )
    return found


def notes(spec: RNNSpec, reset_after: bool = True) -> list[str]:
    """Why the mapping is what it is, for this configuration."""
    lines = []
    if spec.bias and (spec.cell.family in ("rnn", "lstm") or not reset_after):
        lines.append(
            "The two torch biases fold into Keras's one exactly: both are added inside the same "
            "gate sum, x W_ih^T + b_ih + h W_hh^T + b_hh = x kernel + h recurrent_kernel + "
            "(b_ih + b_hh). Going back, the sum cannot be split into the two it came from; any "
            "split with the right sum computes the same."
        )
    if spec.cell.family == "gru" and reset_after:
        lines.append(
            "torch's GRU is Keras's reset_after=True: n = tanh(W_in x + b_in + r * (W_hn h + "
            "b_hn)), so b_hn stays inside the reset product and both biases are kept, stacked. "
            "Keras's reset_after=False computes n = tanh(W_in x + b_in + W_hn (r * h)), which no "
            "torch module does."
        )
    if spec.cell.family == "gru" and not reset_after:
        lines.append(
            "Keras's reset_after=False applies the reset gate before the recurrent product: "
            "n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), where torch's GRU computes "
            f"n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). No torch module computes it, so "
            f"these are nn.{spec.cell.torch_name}'s weights in a layer that computes something "
            "else; --check judges Keras against rnninspect's reference of the reset_after=False "
            "equations, not against torch."
        )
    if spec.cell.is_cell:
        states = "[h0, c0]" if spec.has_cell_state else "[h0]"
        results = "h1, [h1, c1]" if spec.has_cell_state else "h1, [h1]"
        lines.append(
            f"A Keras cell is one step, like torch's: {results} = cell(x, {states}), x of shape "
            "(N, H_in); wrap it in keras.layers.RNN(cell) to run a sequence."
        )
        return lines

    def rows_of(row: str) -> str:
        return f"h0[{row}], c0[{row}]" if spec.has_cell_state else f"h0[{row}]"

    if spec.bidirectional:
        order = (
            f"each layer's initial_state is [{rows_of('2*layer')}, {rows_of('2*layer + 1')}], "
            "the forward direction's then the backward's"
        )
    else:
        order = f"each layer's initial_state is [{rows_of('layer')}]"
    lines.append(
        "Keras layers take (N, L, H_in) input"
        + ("" if spec.batch_first else ": transpose(0, 1) torch's (L, N, H_in)")
        + f"; {order}, as torch's h0 stacks them."
    )
    if spec.dropout:
        lines.append(
            "dropout: torch's dropout between layers is a keras.layers.Dropout between them; "
            "Keras's own dropout= argument drops the layer's inputs, which is not the same."
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Running Keras


def import_keras(command: str = "keras --check") -> Any:
    """Keras on the torch backend; :class:`Unavailable` (exit 3) when it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise Unavailable(f"{command} needs Keras: {INSTALL}") from None
    if keras.backend.backend() != "torch":
        raise Unavailable(
            f"{command} runs Keras on the torch backend, but Keras was loaded with "
            f"{keras.backend.backend()!r}: set KERAS_BACKEND=torch"
        )
    return keras


def _gates(spec: RNNSpec, value: Any) -> Any:
    """GRU rows (or a bias) from torch's r, z, n to Keras's z, r, h, or back: the order swaps
    the first two blocks, so it is its own inverse. Other families are returned as they are."""
    import numpy as np

    if spec.cell.family != "gru":
        return value
    hidden = spec.hidden_size
    blocks = [value[i * hidden : (i + 1) * hidden] for i in range(3)]
    return np.concatenate([blocks[i] for i in GRU_FROM_TORCH], axis=0)


def keras_weights(
    spec: RNNSpec, state: Mapping[str, Any], reset_after: bool = True
) -> list[list[Any]]:
    """The ``set_weights`` list of every Keras layer (forward then backward), from torch's
    state dict (tensors or numpy arrays)."""
    import numpy as np

    layers: list[list[Any]] = []
    for layer in range(spec.num_layers):
        weights = []
        for direction in range(spec.num_directions):
            end = suffix(spec, layer, direction)
            array = {name: _numpy(state[name + end]) for name in _names(spec)}
            weights += [_gates(spec, array["weight_ih"]).T, _gates(spec, array["weight_hh"]).T]
            if spec.bias and spec.cell.family == "gru" and reset_after:
                weights.append(np.stack([_gates(spec, array[b]) for b in ("bias_ih", "bias_hh")]))
            elif spec.bias:
                weights.append(_gates(spec, array["bias_ih"] + array["bias_hh"]))
        layers.append(weights)
    return layers


def torch_state(spec: RNNSpec, layers: list[list[Any]]) -> dict[str, Any]:
    """The inverse of :func:`keras_weights` for ``reset_after=True``: torch's state dict (numpy
    arrays, torch's names without a prefix) from every Keras layer's ``get_weights()``.

    Keras's one SimpleRNN/LSTM bias becomes ``bias_ih``, with ``bias_hh`` zero: the sum is what
    both compute, and how it was split, if it ever was, is not in the Keras weights.
    """
    import numpy as np

    state: dict[str, Any] = {}
    per = 3 if spec.bias else 2
    for layer, weights in enumerate(layers):
        for direction in range(spec.num_directions):
            end = suffix(spec, layer, direction)
            kernel, recurrent, *bias = weights[direction * per : (direction + 1) * per]
            state["weight_ih" + end] = np.ascontiguousarray(_gates(spec, kernel.T))
            state["weight_hh" + end] = np.ascontiguousarray(_gates(spec, recurrent.T))
            if not bias:
                continue
            if spec.cell.family == "gru":
                state["bias_ih" + end] = _gates(spec, bias[0][0])
                state["bias_hh" + end] = _gates(spec, bias[0][1])
            else:
                state["bias_ih" + end] = bias[0].copy()
                state["bias_hh" + end] = np.zeros_like(bias[0])
    return state


def _numpy(value: Any) -> Any:
    """A weight as numpy holds it: float16 and bfloat16 tensors widened to float32 first
    (exactly), so that biases are summed in float32 and bfloat16, which numpy lacks, converts."""
    import numpy as np

    if hasattr(value, "detach"):
        import torch

        tensor = value.detach().cpu()
        if tensor.dtype in (torch.float16, torch.bfloat16):
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(value)


def _names(spec: RNNSpec) -> list[str]:
    return ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if spec.bias else [])


def make_layer(
    keras: Any,
    spec: RNNSpec,
    reset_after: bool = True,
    name: str | None = None,
    dtype: str = "float32",
) -> Any:
    """One Keras layer (or, for a Cell, one cell) as :func:`layer_code` writes it, holding its
    weights in ``dtype``."""
    options = _layer_options(spec, reset_after)
    kind = _layer_class(spec)
    if spec.bidirectional:
        layer = getattr(keras.layers, kind)(spec.hidden_size, dtype=dtype, **options)
        return keras.layers.Bidirectional(layer, name=name, dtype=dtype)
    return getattr(keras.layers, kind)(spec.hidden_size, name=name, dtype=dtype, **options)


def build_layers(
    keras: Any, spec: RNNSpec, state: Mapping[str, Any], reset_after: bool = True
) -> list[Any]:
    """Keras layers (one cell for a Cell) built and holding torch's weights."""
    built = []
    width = spec.input_size
    for weights in keras_weights(spec, state, reset_after):
        layer = make_layer(keras, spec, reset_after)
        layer.build((None, width) if spec.cell.is_cell else (None, None, width))
        layer.set_weights(weights)
        built.append(layer)
        width = spec.num_directions * spec.out_size
    return built


def run_layers(spec: RNNSpec, layers: list[Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Built Keras layers (or one cell) on torch's inputs; the results by torch's names and in
    torch's layout."""
    import torch

    x, h0, c0 = inputs["input"], inputs["h0"], inputs.get("c0")
    if spec.cell.is_cell:
        x, h0 = (x[None], h0[None]) if spec.unbatched else (x, h0)
        c0 = None if c0 is None else (c0[None] if spec.unbatched else c0)
        h1, states = layers[0](x, [h0] if c0 is None else [h0, c0])
        found = {"h1": torch.as_tensor(h1)}
        if c0 is not None:
            found["c1"] = torch.as_tensor(states[1])
        return {k: v[0] for k, v in found.items()} if spec.unbatched else found
    if spec.unbatched:
        x, h0 = x.unsqueeze(0), h0.unsqueeze(1)
        c0 = None if c0 is None else c0.unsqueeze(1)
    elif not spec.batch_first:
        x = x.transpose(0, 1)  # (N, L, H_in)
    finals_h, finals_c = [], []
    per = 2 if spec.has_cell_state else 1
    for layer, built in enumerate(layers):
        initial = []
        for direction in range(spec.num_directions):
            row = layer * spec.num_directions + direction
            initial += [h0[row]] + ([] if c0 is None else [c0[row]])
        result = built(x, initial_state=initial)
        x = torch.as_tensor(result[0])
        states = [torch.as_tensor(value) for value in result[1:]]
        for direction in range(spec.num_directions):
            finals_h.append(states[direction * per])
            if spec.has_cell_state:
                finals_c.append(states[direction * per + 1])
    output = x
    if spec.unbatched:
        output = output[0]
    elif not spec.batch_first:
        output = output.transpose(0, 1)
    h_n = torch.stack(finals_h)
    results = {"output": output, "h_n": h_n[:, 0] if spec.unbatched else h_n}
    if finals_c:
        c_n = torch.stack(finals_c)
        results["c_n"] = c_n[:, 0] if spec.unbatched else c_n
    return results
