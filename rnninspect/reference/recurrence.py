"""The time loop, the two directions and the stack of layers, around the cells in ``cells.py``.

For every layer and direction: hoist the input projection out of the loop (one matrix product
over all L steps), then step through time, from the first step to the last for the forward
direction and from the last to the first for the reverse one, whose outputs are put back in time
order. The next layer reads the concatenation of both directions' outputs. Dropout between
layers is not applied: verification runs in eval mode.

Internally sequences are (L, N, features); batch_first and unbatched inputs are converted at the
edges, exactly as torch's modules accept them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from rnninspect.model.spec import RNNSpec
from rnninspect.reference.cells import gru_step, gru_step_reset_before, lstm_step, rnn_step


@dataclass(frozen=True)
class DirectionWeights:
    """The parameters of one layer in one direction, in torch's layout."""

    w_ih: Tensor  # (G*H_cell, H_in of this layer)
    w_hh: Tensor  # (G*H_cell, H_out)
    b_ih: Tensor | None  # (G*H_cell,)
    b_hh: Tensor | None  # (G*H_cell,)
    w_hr: Tensor | None  # (H_out, H_cell), LSTM with proj_size only

    @classmethod
    def of(cls, params: Mapping[str, Tensor], suffix: str) -> DirectionWeights:
        """Pick ``weight_ih<suffix>`` and its siblings; suffix is ``""`` for a Cell, else
        ``_l<layer>`` or ``_l<layer>_reverse``."""
        return cls(
            w_ih=params["weight_ih" + suffix],
            w_hh=params["weight_hh" + suffix],
            b_ih=params.get("bias_ih" + suffix),
            b_hh=params.get("bias_hh" + suffix),
            w_hr=params.get("weight_hr" + suffix),
        )

    def project_input(self, x: Tensor) -> Tensor:
        """``x W_ih^T + b_ih`` for any leading dimensions: (..., H_in) -> (..., G*H_cell)."""
        gi = x @ self.w_ih.T
        return gi if self.b_ih is None else gi + self.b_ih


def step(
    spec: RNNSpec,
    weights: DirectionWeights,
    gi: Tensor,
    h: Tensor,
    c: Tensor | None,
    reset_after: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """One step of the spec's cell from the projected input ``gi`` (N, G*H_cell); a GRU with
    ``reset_after=False`` takes Keras's variant (:func:`gru_step_reset_before`)."""
    family = spec.cell.family
    if family == "lstm":
        assert c is not None, "an LSTM step needs its cell state"
        return lstm_step(gi, h, c, weights.w_hh, weights.b_hh, weights.w_hr)
    if family == "gru":
        gru = gru_step if reset_after else gru_step_reset_before
        return gru(gi, h, weights.w_hh, weights.b_hh), None
    return rnn_step(gi, h, weights.w_hh, weights.b_hh, spec.nonlinearity), None


def run_direction(
    spec: RNNSpec,
    weights: DirectionWeights,
    x: Tensor,
    h: Tensor,
    c: Tensor | None,
    reverse: bool,
    valid: Tensor | None = None,
    reset_after: bool = True,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer in one direction over the whole sequence.

    x (L, N, H_in), h (N, H_out), c (N, H_cell) or None. Returns the outputs in time order
    (L, N, H_out) and the final h and c, which for the reverse direction are the states after
    reading back to the first step. ``valid`` (L, N, 1), for packed sequences, marks the steps
    inside each sequence: elsewhere the state is left as it is and the output is zero, so each
    sequence stops at its own length and the reverse direction starts at its own last step.
    """
    # hoisted out of the loop, then split into L views at once: indexing gi[t] in the loop would
    # make autograd build one (L, N, G*H_cell) gradient per step, quadratic in L
    gi = weights.project_input(x).unbind(0)  # L of (N, G*H_cell)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outputs: list[Tensor] = [h] * x.shape[0]
    for t in steps:
        h_next, c_next = step(spec, weights, gi[t], h, c, reset_after)  # (N, H_out), (N, H_cell)
        if valid is None:
            h, c = h_next, c_next
            outputs[t] = h
            continue
        inside = valid[t]  # (N, 1)
        h = torch.where(inside, h_next, h)
        c = None if c is None or c_next is None else torch.where(inside, c_next, c)
        outputs[t] = torch.where(inside, h_next, torch.zeros_like(h_next))
    return torch.stack(outputs), h, c  # (L, N, H_out)


def direction_suffixes(spec: RNNSpec, layer: int) -> list[str]:
    """Parameter-name suffixes of one layer's directions, forward first."""
    return [f"_l{layer}", f"_l{layer}_reverse"][: spec.num_directions]


def run_sequence(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    reset_after: bool = True,
) -> dict[str, Tensor]:
    """RNN, LSTM or GRU over a whole sequence, every layer and direction.

    x (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched;
    h0 (D*num_layers, N, H_out), c0 (D*num_layers, N, H_cell), without N when unbatched.
    """
    if spec.unbatched:
        x, h0 = x.unsqueeze(1), h0.unsqueeze(1)  # (L, 1, H_in), (D*layers, 1, H_out)
        c0 = None if c0 is None else c0.unsqueeze(1)
    elif spec.batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in)

    valid = None
    if spec.lengths is not None:
        time = torch.arange(x.shape[0], device=x.device)[:, None]  # (L, 1)
        lengths = torch.tensor(spec.lengths, device=x.device)[None, :]  # (1, N)
        valid = (time < lengths)[..., None]  # (L, N, 1)

    layer_input = x
    h_n: list[Tensor] = []
    c_n: list[Tensor] = []
    for layer in range(spec.num_layers):
        outputs = []
        for direction, suffix in enumerate(direction_suffixes(spec, layer)):
            index = layer * spec.num_directions + direction
            weights = DirectionWeights.of(params, suffix)
            c = None if c0 is None else c0[index]
            out, h, c = run_direction(
                spec, weights, layer_input, h0[index], c, direction == 1, valid, reset_after
            )
            outputs.append(out)  # (L, N, H_out)
            h_n.append(h)
            if c is not None:
                c_n.append(c)
        layer_input = torch.cat(outputs, dim=-1)  # (L, N, D*H_out)

    output = layer_input
    final_h = torch.stack(h_n)  # (D*num_layers, N, H_out)
    final_c = torch.stack(c_n) if c_n else None  # (D*num_layers, N, H_cell)
    if spec.unbatched:
        output, final_h = output.squeeze(1), final_h.squeeze(1)
        final_c = None if final_c is None else final_c.squeeze(1)
    elif spec.batch_first:
        output = output.transpose(0, 1)  # (N, L, D*H_out)
    result = {"output": output, "h_n": final_h}
    if final_c is not None:
        result["c_n"] = final_c
    return result


def run_cell(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    reset_after: bool = True,
) -> dict[str, Tensor]:
    """RNNCell, LSTMCell or GRUCell: one step. x (N, H_in) or (H_in,) unbatched."""
    weights = DirectionWeights.of(params, "")
    if spec.unbatched:
        x, h0 = x.unsqueeze(0), h0.unsqueeze(0)  # (1, H_in), (1, H_out)
        c0 = None if c0 is None else c0.unsqueeze(0)
    h1, c1 = step(spec, weights, weights.project_input(x), h0, c0, reset_after)
    if spec.unbatched:
        h1 = h1.squeeze(0)
        c1 = None if c1 is None else c1.squeeze(0)
    return {"h1": h1} if c1 is None else {"h1": h1, "c1": c1}


def reference_forward(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    reset_after: bool = True,
) -> dict[str, Tensor]:
    """The reference's forward pass, by the contract's tensor names.

    ``params`` by torch's parameter names; ``inputs`` holds ``input``, ``h0`` and, for the
    LSTM classes, ``c0``. Returns ``output``, ``h_n`` (``c_n``) or, for a Cell, ``h1`` (``c1``).
    ``reset_after=False`` runs a GRU as Keras's variant of that name, which torch lacks.
    """
    run = run_cell if spec.cell.is_cell else run_sequence
    return run(spec, params, inputs["input"], inputs["h0"], inputs.get("c0"), reset_after)
