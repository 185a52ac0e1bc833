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
from dataclasses import dataclass
from typing import Any

from rnninspect.devices import Unavailable
from rnninspect.spec import RNNSpec, SpecError

INSTALL = "pip install 'rnninspect[keras]'"

#: The Keras layer of each family, and its gate order.
KERAS_LAYER = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
KERAS_GATES = {"rnn": ("h",), "lstm": ("i", "f", "c", "o"), "gru": ("z", "r", "h")}

#: Where each of Keras's GRU gates (z, r, h) is in torch's (r, z, n).
GRU_FROM_TORCH = (1, 0, 2)


@dataclass(frozen=True)
class WeightMap:
    """One Keras weight and the torch parameters it is made from."""

    layer: int
    direction: str
    keras: str
    keras_shape: tuple[int, ...]
    torch: tuple[str, ...]
    torch_shape: tuple[int, ...]
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "direction": self.direction,
            "keras": self.keras,
            "keras_shape": list(self.keras_shape),
            "torch": list(self.torch),
            "torch_shape": list(self.torch_shape),
            "how": self.how,
        }


def refuse_cells(spec: RNNSpec) -> None:
    if spec.cell.is_cell:
        raise SpecError(
            f"keras: nn.{spec.cell.torch_name} is not mapped yet; the sequence classes "
            "nn.RNN, nn.LSTM and nn.GRU are"
        )


def layer_code(spec: RNNSpec) -> list[str]:
    """Python that builds the Keras layers, one line per torch layer."""
    refuse_cells(spec)
    name = KERAS_LAYER[spec.cell.family]
    options = ["return_sequences=True", "return_state=True"]
    if not spec.bias:
        options.append("use_bias=False")
    if spec.cell.family == "rnn":
        options.insert(0, f"activation={spec.nonlinearity!r}")
    if spec.cell.family == "gru":
        options.append("reset_after=True")
    layer = f"keras.layers.{name}({spec.hidden_size}, {', '.join(options)})"
    if spec.bidirectional:
        layer = f"keras.layers.Bidirectional({layer})"
    return [f"layer_{index} = {layer}" for index in range(spec.num_layers)]


def mapping(spec: RNNSpec) -> list[WeightMap]:
    """Every Keras weight, in the order ``set_weights`` takes them, with its torch source."""
    refuse_cells(spec)
    family, hidden = spec.cell.family, spec.hidden_size
    gates = len(KERAS_GATES[family])
    reorder = "; gates r,z,n reordered to z,r,h" if family == "gru" else ""
    rows: list[WeightMap] = []
    for layer in range(spec.num_layers):
        width = spec.input_size if layer == 0 else spec.num_directions * spec.out_size
        for direction in ("forward", "backward")[: spec.num_directions]:
            suffix = f"_l{layer}" + ("_reverse" if direction == "backward" else "")
            rows += [
                WeightMap(
                    layer,
                    direction,
                    "kernel",
                    (width, gates * hidden),
                    (f"weight_ih{suffix}",),
                    (gates * hidden, width),
                    "transposed" + reorder,
                ),
                WeightMap(
                    layer,
                    direction,
                    "recurrent_kernel",
                    (spec.out_size, gates * hidden),
                    (f"weight_hh{suffix}",),
                    (gates * hidden, spec.out_size),
                    "transposed" + reorder,
                ),
            ]
            if spec.bias and family == "gru":
                rows.append(
                    WeightMap(
                        layer,
                        direction,
                        "bias",
                        (2, gates * hidden),
                        (f"bias_ih{suffix}", f"bias_hh{suffix}"),
                        (gates * hidden,),
                        "stacked [bias_ih, bias_hh]" + reorder,
                    )
                )
            elif spec.bias:
                rows.append(
                    WeightMap(
                        layer,
                        direction,
                        "bias",
                        (gates * hidden,),
                        (f"bias_ih{suffix}", f"bias_hh{suffix}"),
                        (gates * hidden,),
                        "bias_ih + bias_hh",
                    )
                )
            if spec.proj_size:
                rows.append(
                    WeightMap(
                        layer,
                        direction,
                        "(none)",
                        (),
                        (f"weight_hr{suffix}",),
                        (spec.proj_size, hidden),
                        "no Keras equivalent: Keras's LSTM has no projection",
                    )
                )
    return rows


def limits(spec: RNNSpec) -> list[str]:
    """What has no exact Keras equivalent in this configuration."""
    found = []
    if spec.proj_size:
        found.append(
            "proj_size: torch projects h_t = W_hr (o * tanh(c_t)); Keras's LSTM has no "
            "projection, so no Keras layer computes this module"
        )
    return found


def notes(spec: RNNSpec) -> list[str]:
    """Why the mapping is what it is, for this configuration."""
    lines = []
    if spec.cell.family in ("rnn", "lstm") and spec.bias:
        lines.append(
            "The two torch biases fold into Keras's one exactly: both are added inside the same "
            "gate sum, x W_ih^T + b_ih + h W_hh^T + b_hh = x kernel + h recurrent_kernel + "
            "(b_ih + b_hh). Going back, the sum cannot be split into the two it came from; any "
            "split with the right sum computes the same."
        )
    if spec.cell.family == "gru":
        lines.append(
            "torch's GRU is Keras's reset_after=True: n = tanh(W_in x + b_in + r * (W_hn h + "
            "b_hn)), so b_hn stays inside the reset product and both biases are kept, stacked. "
            "Keras's reset_after=False computes n = tanh(W_in x + b_in + W_hn (r * h)), which no "
            "torch module does."
        )
    lines.append(
        "Keras layers take (N, L, H_in) input"
        + ("" if spec.batch_first else ": transpose(0, 1) torch's (L, N, H_in)")
        + "; the initial state is a list per layer and direction: h0[k] (and c0[k]) as "
        "initial_state, k = 2*layer + direction."
    )
    if spec.dropout:
        lines.append(
            "dropout: torch's dropout between layers is a keras.layers.Dropout between them; "
            "Keras's own dropout= argument drops the layer's inputs, which is not the same."
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Running Keras


def import_keras() -> Any:
    """Keras on the torch backend; :class:`Unavailable` (exit 3) when it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise Unavailable(f"keras --check needs Keras: {INSTALL}") from None
    if keras.backend.backend() != "torch":
        raise Unavailable(
            f"keras --check runs Keras on the torch backend, but Keras was loaded with "
            f"{keras.backend.backend()!r}: set KERAS_BACKEND=torch"
        )
    return keras


def keras_weights(spec: RNNSpec, state: Mapping[str, Any]) -> list[list[Any]]:
    """The ``set_weights`` list of every Keras layer (forward then backward), from torch's."""
    import numpy as np

    hidden = spec.hidden_size

    def gates(value: Any) -> Any:
        if spec.cell.family != "gru":
            return value
        blocks = [value[i * hidden : (i + 1) * hidden] for i in range(3)]
        return np.concatenate([blocks[i] for i in GRU_FROM_TORCH], axis=0)

    layers: list[list[Any]] = []
    for layer in range(spec.num_layers):
        weights = []
        for direction in range(spec.num_directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            array = {name: state[name + suffix].detach().cpu().numpy() for name in _names(spec)}
            weights += [gates(array["weight_ih"]).T, gates(array["weight_hh"]).T]
            if spec.bias and spec.cell.family == "gru":
                weights.append(np.stack([gates(array["bias_ih"]), gates(array["bias_hh"])]))
            elif spec.bias:
                weights.append(array["bias_ih"] + array["bias_hh"])
        layers.append(weights)
    return layers


def _names(spec: RNNSpec) -> list[str]:
    return ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if spec.bias else [])


def run_keras(spec: RNNSpec, state: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Keras layers of :func:`layer_code` with torch's weights, on torch's inputs; the
    results by torch's names and in torch's layout."""
    import torch

    keras = import_keras()
    x = inputs["input"]
    if spec.unbatched:
        x = x.unsqueeze(0)
    elif not spec.batch_first:
        x = x.transpose(0, 1)  # (N, L, H_in)
    h0, c0 = inputs["h0"], inputs.get("c0")
    if spec.unbatched:
        h0 = h0.unsqueeze(1)
        c0 = None if c0 is None else c0.unsqueeze(1)
    finals_h, finals_c = [], []
    for layer, weights in enumerate(keras_weights(spec, state)):
        built = _layer(keras, spec)
        built.build(tuple(x.shape))
        built.set_weights(weights)
        initial = []
        for direction in range(spec.num_directions):
            row = layer * spec.num_directions + direction
            initial += [h0[row]] + ([] if c0 is None else [c0[row]])
        result = built(x, initial_state=initial)
        x = torch.as_tensor(result[0])
        states = [torch.as_tensor(value) for value in result[1:]]
        per = 2 if spec.has_cell_state else 1
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


def _layer(keras: Any, spec: RNNSpec) -> Any:
    options: dict[str, Any] = {"return_sequences": True, "return_state": True}
    options["use_bias"] = spec.bias
    if spec.cell.family == "rnn":
        options["activation"] = spec.nonlinearity
    if spec.cell.family == "gru":
        options["reset_after"] = True
    layer = getattr(keras.layers, KERAS_LAYER[spec.cell.family])(spec.hidden_size, **options)
    return keras.layers.Bidirectional(layer) if spec.bidirectional else layer
