"""torch's recurrent modules as ONNX nodes: each layer of an ``nn.RNN``, ``nn.LSTM`` or
``nn.GRU`` is one ONNX operator with torch's weights moved into ONNX's layout.

torch's gate blocks are reordered to ONNX's (LSTM i, f, g, o -> i, o, f, c; GRU r, z, n ->
z, r, h), the two directions stacked as W's first dimension, and ``bias_ih``, ``bias_hh``
concatenated into B = [Wb, Rb]. A GRU is ``linear_before_reset=1`` (torch applies the reset
gate to ``W_hn h + b_hn``), an RNN's nonlinearity is its one activation. ``proj_size`` has no
ONNX equivalent. :func:`forward_as_onnx` runs a torch configuration through
:func:`~rnninspect.reference.onnx.onnx_forward`, one node a layer, so that the two references
can be held to the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from rnninspect.base.errors import SpecError
from rnninspect.model.operator import RecurrentOp
from rnninspect.model.spec import RNNSpec
from rnninspect.reference.onnx import onnx_forward

#: Which of torch's gate blocks makes each of ONNX's, in ONNX's order.
TORCH_BLOCKS = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}


def onnx_node(spec: RNNSpec) -> RecurrentOp:
    """The ONNX operator that each layer of ``spec`` is."""
    if spec.proj_size:
        raise SpecError("an LSTM with proj_size has no ONNX operator: ONNX's LSTM has no W_hr")
    family = spec.cell.family
    op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[family]
    activations = None
    direction = "bidirectional" if spec.bidirectional and not spec.cell.is_cell else "forward"
    if family == "rnn":
        activations = ("Tanh" if spec.nonlinearity == "tanh" else "Relu",) * (
            2 if direction == "bidirectional" else 1
        )
    return RecurrentOp(
        op=op,  # type: ignore[arg-type]
        hidden_size=spec.hidden_size,
        direction=direction,
        activations=activations,
        linear_before_reset=family == "gru",
    )


def _blocks(tensor: Tensor, family: str) -> Tensor:
    """torch's gate blocks (rows) of a weight or bias, in ONNX's order."""
    chunks = tensor.chunk(len(TORCH_BLOCKS[family]), dim=0)
    return torch.cat([chunks[i] for i in TORCH_BLOCKS[family]], dim=0)


def onnx_weights(spec: RNNSpec, params: Mapping[str, Tensor], layer: int) -> dict[str, Tensor]:
    """One layer's ``W`` (D, G*H, I), ``R`` (D, G*H, H) and, with bias, ``B`` (D, 2*G*H), from
    torch's parameters of that layer."""
    family = spec.cell.family
    if spec.cell.is_cell:
        suffixes = [""]
    else:
        suffixes = [f"_l{layer}", f"_l{layer}_reverse"][: spec.num_directions]
    w = [_blocks(params["weight_ih" + s], family) for s in suffixes]
    r = [_blocks(params["weight_hh" + s], family) for s in suffixes]
    weights = {"W": torch.stack(w), "R": torch.stack(r)}  # (D, G*H, I), (D, G*H, H)
    if spec.bias:
        b = [
            torch.cat(
                [_blocks(params["bias_ih" + s], family), _blocks(params["bias_hh" + s], family)]
            )
            for s in suffixes
        ]
        weights["B"] = torch.stack(b)  # (D, 2*G*H)
    return weights


def forward_as_onnx(
    spec: RNNSpec, params: Mapping[str, Tensor], inputs: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """torch's forward pass computed by ONNX's operators, one node a layer: the same inputs
    and results, by the contract's names, as :func:`~rnninspect.reference.reference_forward`.
    Packed sequences (``spec.lengths``) are ONNX's ``sequence_lens``."""
    node = onnx_node(spec)
    x, h0, c0 = inputs["input"], inputs["h0"], inputs.get("c0")
    if spec.cell.is_cell:  # one step: X (1, N, I), states (1, N, H)
        batched = x if not spec.unbatched else x.unsqueeze(0)
        x = batched.unsqueeze(0)
        h0 = (h0 if not spec.unbatched else h0.unsqueeze(0)).unsqueeze(0)
        if c0 is not None:
            c0 = (c0 if not spec.unbatched else c0.unsqueeze(0)).unsqueeze(0)
    elif spec.unbatched:
        x, h0 = x.unsqueeze(1), h0.unsqueeze(1)  # (L, 1, H_in), (D*layers, 1, H)
        c0 = None if c0 is None else c0.unsqueeze(1)
    elif spec.batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in)
    lengths = None if spec.lengths is None else torch.tensor(spec.lengths, dtype=torch.int32)

    layers = 1 if spec.cell.is_cell else spec.num_layers
    d = node.num_directions
    layer_input, finals_h, finals_c = x, [], []
    for layer in range(layers):
        given: dict[str, Tensor | None] = {
            "X": layer_input,
            **onnx_weights(spec, params, layer),
            "sequence_lens": lengths,
            "initial_h": h0[layer * d : (layer + 1) * d],
            "initial_c": None if c0 is None else c0[layer * d : (layer + 1) * d],
        }
        out = onnx_forward(node, given)
        steps, _, batch, size = out["Y"].shape  # (L, D, N, H)
        layer_input = out["Y"].permute(0, 2, 1, 3).reshape(steps, batch, d * size)  # (L, N, D*H)
        finals_h.append(out["Y_h"])
        if "Y_c" in out:
            finals_c.append(out["Y_c"])

    h_n = torch.cat(finals_h)  # (D*num_layers, N, H)
    c_n = torch.cat(finals_c) if finals_c else None
    if spec.cell.is_cell:
        h1 = h_n[0] if not spec.unbatched else h_n[0, 0]
        result = {"h1": h1}
        if c_n is not None:
            result["c1"] = c_n[0] if not spec.unbatched else c_n[0, 0]
        return result
    output = layer_input
    if spec.unbatched:
        output, h_n = output.squeeze(1), h_n.squeeze(1)
        c_n = None if c_n is None else c_n.squeeze(1)
    elif spec.batch_first:
        output = output.transpose(0, 1)  # (N, L, D*H)
    result = {"output": output, "h_n": h_n}
    if c_n is not None:
        result["c_n"] = c_n
    return result
