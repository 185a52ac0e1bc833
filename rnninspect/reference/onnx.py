"""ONNX's LSTM, GRU and RNN operators, from the equations of the ONNX operator docs (opsets 7
to 22).

The tensors are the operator's own, in ONNX's layouts (shown for ``layout=0``; ``layout=1`` puts
N first in X, initial_h, initial_c and every output). D is num_directions, G the gates of the
operator (4 LSTM, 3 GRU, 1 RNN), H hidden_size, I input_size:

- ``X`` (L, N, I); ``sequence_lens`` (N,), int
- ``W`` (D, G*H, I) and ``R`` (D, G*H, H), row blocks in ONNX's gate order: LSTM i, o, f, c;
  GRU z, r, h; RNN i
- ``B`` (D, 2*G*H): ``[Wb, Rb]``, the input biases then the recurrent ones
- ``P`` (D, 3*H): LSTM peepholes ``[Pi, Po, Pf]``
- ``initial_h``, ``initial_c`` (D, N, H)
- outputs ``Y`` (L, D, N, H), ``Y_h`` and ``Y_c`` (D, N, H)

Every optional input that is absent counts as zero, as the docs say. Where ``clip`` is given,
the input of every activation is clipped to [-clip, clip], h(C_t)'s included; C_t itself is
kept as computed. With ``sequence_lens``, each sequence stops at its own length: Y is zero past
it and Y_h, Y_c hold its last valid step; the reverse direction starts at the sequence's own
last step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from rnninspect.model.operator import Activation, RecurrentOp

# ---------------------------------------------------------------- the activation functions


def activate(act: Activation, x: Tensor) -> Tensor:
    """One activation, as the operator docs define it (alpha and beta already resolved)."""
    alpha = 0.0 if act.alpha is None else act.alpha
    beta = 0.0 if act.beta is None else act.beta
    match act.name:
        case "Relu":  # max(0, x)
            return torch.relu(x)
        case "Tanh":
            return torch.tanh(x)
        case "Sigmoid":  # 1 / (1 + e^-x)
            return torch.sigmoid(x)
        case "Affine":  # alpha * x + beta
            return alpha * x + beta
        case "LeakyRelu":  # x if x >= 0 else alpha * x
            return torch.where(x >= 0, x, alpha * x)
        case "ThresholdedRelu":  # x if x >= alpha else 0
            return torch.where(x >= alpha, x, torch.zeros_like(x))
        case "ScaledTanh":  # alpha * tanh(beta * x)
            return alpha * torch.tanh(beta * x)
        case "HardSigmoid":  # min(max(alpha * x + beta, 0), 1)
            return (alpha * x + beta).clamp(0.0, 1.0)
        case "Elu":  # x if x >= 0 else alpha * (e^x - 1)
            return torch.where(x >= 0, x, alpha * torch.expm1(x))
        case "Softsign":  # x / (1 + |x|)
            return x / (1 + x.abs())
        case "Softplus":  # log(1 + e^x)
            return torch.logaddexp(x, torch.zeros_like(x))
    raise ValueError(f"no activation {act.name!r}")


def _clipped(x: Tensor, clip: float | None) -> Tensor:
    """The input of an activation, bounded to [-clip, clip] when the node has a clip."""
    return x if clip is None else x.clamp(-clip, clip)


def _recurrent(h: Tensor, r: Tensor, rb: Tensor | None) -> Tensor:
    """``H_{t-1} R^T + Rb`` for the gates of ``r`` at once: (N, H) -> (N, rows of r)."""
    return h @ r.T if rb is None else torch.addmm(rb, h, r.T)


# ---------------------------------------------------------------- one time step of each operator


@dataclass(frozen=True)
class DirectionTensors:
    """One direction's slices of W, R, B and P."""

    w: Tensor  # (G*H, I)
    r: Tensor  # (G*H, H)
    wb: Tensor | None  # (G*H,)
    rb: Tensor | None  # (G*H,)
    p: Tensor | None  # (3*H,), LSTM only

    def project_input(self, x: Tensor) -> Tensor:
        """``X_t W^T + Wb`` of every step at once: (L, N, I) -> (L, N, G*H)."""
        gi = x @ self.w.T
        return gi if self.wb is None else gi + self.wb


def lstm_step(
    node: RecurrentOp,
    acts: tuple[Activation, ...],
    weights: DirectionTensors,
    gi: Tensor,
    h: Tensor,
    c: Tensor,
) -> tuple[Tensor, Tensor]:
    """ONNX's LSTM, gates i, o, f, c; activations (f, g, h), by default (Sigmoid, Tanh, Tanh)::

    i_t = f(X_t W_i^T + H_{t-1} R_i^T + P_i . C_{t-1} + Wb_i + Rb_i)
    f_t = f(X_t W_f^T + H_{t-1} R_f^T + P_f . C_{t-1} + Wb_f + Rb_f)    (1 - i_t with input_forget)
    c_t = g(X_t W_c^T + H_{t-1} R_c^T + Wb_c + Rb_c)
    C_t = f_t . C_{t-1} + i_t . c_t
    o_t = f(X_t W_o^T + H_{t-1} R_o^T + P_o . C_t + Wb_o + Rb_o)
    H_t = o_t . h(C_t)
    """
    f, g, h_act = acts
    gates = gi + _recurrent(h, weights.r, weights.rb)  # (N, 4*H)
    pre_i, pre_o, pre_f, pre_c = gates.chunk(4, dim=-1)  # each (N, H)
    if weights.p is not None:
        p_i, p_o, p_f = weights.p.chunk(3)  # each (H,)
        pre_i, pre_f = pre_i + p_i * c, pre_f + p_f * c
    i = activate(f, _clipped(pre_i, node.clip))  # (N, H)
    forget = 1 - i if node.input_forget else activate(f, _clipped(pre_f, node.clip))
    c_next = forget * c + i * activate(g, _clipped(pre_c, node.clip))  # (N, H)
    if weights.p is not None:
        pre_o = pre_o + p_o * c_next
    o = activate(f, _clipped(pre_o, node.clip))  # (N, H)
    cell_clip = node.clip if node.clip_cell_output else None
    h_next = o * activate(h_act, _clipped(c_next, cell_clip))  # (N, H)
    return h_next, c_next


def gru_step(
    node: RecurrentOp,
    acts: tuple[Activation, ...],
    weights: DirectionTensors,
    gi: Tensor,
    h: Tensor,
) -> Tensor:
    """ONNX's GRU, gates z, r, h; activations (f, g), by default (Sigmoid, Tanh)::

    z_t = f(X_t W_z^T + H_{t-1} R_z^T + Wb_z + Rb_z)
    r_t = f(X_t W_r^T + H_{t-1} R_r^T + Wb_r + Rb_r)
    h_t = g(X_t W_h^T + (r_t . H_{t-1}) R_h^T + Rb_h + Wb_h)      linear_before_reset = 0
    h_t = g(X_t W_h^T + r_t . (H_{t-1} R_h^T + Rb_h) + Wb_h)      linear_before_reset = 1
    H_t = (1 - z_t) . h_t + z_t . H_{t-1}

    torch's GRU is linear_before_reset = 1 (its b_hn inside the reset product).
    """
    f, g = acts
    size = node.hidden_size
    gi_z, gi_r, gi_h = gi.chunk(3, dim=-1)  # each (N, H)
    if node.linear_before_reset:
        gh_z, gh_r, gh_h = _recurrent(h, weights.r, weights.rb).chunk(3, dim=-1)  # each (N, H)
        z = activate(f, _clipped(gi_z + gh_z, node.clip))
        r = activate(f, _clipped(gi_r + gh_r, node.clip))
        candidate = activate(g, _clipped(gi_h + r * gh_h, node.clip))  # (N, H)
    else:
        rb_zr = None if weights.rb is None else weights.rb[: 2 * size]
        rb_h = None if weights.rb is None else weights.rb[2 * size :]
        gh_z, gh_r = _recurrent(h, weights.r[: 2 * size], rb_zr).chunk(2, dim=-1)  # (N, H)
        z = activate(f, _clipped(gi_z + gh_z, node.clip))
        r = activate(f, _clipped(gi_r + gh_r, node.clip))
        reset = _recurrent(r * h, weights.r[2 * size :], rb_h)  # (N, H)
        candidate = activate(g, _clipped(gi_h + reset, node.clip))  # (N, H)
    return (1 - z) * candidate + z * h


def rnn_step(
    node: RecurrentOp,
    acts: tuple[Activation, ...],
    weights: DirectionTensors,
    gi: Tensor,
    h: Tensor,
) -> Tensor:
    """ONNX's RNN, activation f, by default Tanh::

    H_t = f(X_t W_i^T + H_{t-1} R_i^T + Wb_i + Rb_i)
    """
    (f,) = acts
    return activate(f, _clipped(gi + _recurrent(h, weights.r, weights.rb), node.clip))


# ---------------------------------------------------------------- the time loop and the operator


def run_direction(
    node: RecurrentOp,
    direction: int,
    weights: DirectionTensors,
    x: Tensor,
    h: Tensor,
    c: Tensor | None,
    valid: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction over the sequence: x (L, N, I), h and c (N, H); ``valid`` (L, N, 1) marks
    the steps inside each sequence. Returns Y of this direction (L, N, H), in time order, and
    the last valid h and c. Direction 1 of a bidirectional node, and the only direction of a
    ``reverse`` one, reads the sequence from its last step to its first."""
    acts = node.direction_activations(direction)
    reverse = direction == 1 or node.direction == "reverse"
    gi = weights.project_input(x).unbind(0)  # L of (N, G*H)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outputs: list[Tensor] = [h] * x.shape[0]
    for t in steps:
        c_next = None
        if node.op == "LSTM":
            assert c is not None
            h_next, c_next = lstm_step(node, acts, weights, gi[t], h, c)
        elif node.op == "GRU":
            h_next = gru_step(node, acts, weights, gi[t], h)
        else:
            h_next = rnn_step(node, acts, weights, gi[t], h)
        if valid is None:
            h, c = h_next, c_next
            outputs[t] = h
            continue
        inside = valid[t]  # (N, 1)
        h = torch.where(inside, h_next, h)
        c = None if c is None or c_next is None else torch.where(inside, c_next, c)
        outputs[t] = torch.where(inside, h_next, torch.zeros_like(h_next))
    return torch.stack(outputs), h, c  # (L, N, H)


def onnx_forward(node: RecurrentOp, inputs: Mapping[str, Tensor | None]) -> dict[str, Tensor]:
    """The operator on its inputs by ONNX's names (``X``, ``W``, ``R`` and the optional ``B``,
    ``sequence_lens``, ``initial_h``, ``initial_c``, ``P``; absent or None counts as zero or
    full length). Returns ``Y``, ``Y_h`` and, for LSTM, ``Y_c``, in the node's layout."""
    x, w, r = inputs["X"], inputs["W"], inputs["R"]
    assert x is not None and w is not None and r is not None, "X, W and R are required"
    h0, c0 = inputs.get("initial_h"), inputs.get("initial_c")
    if node.layout == 1:
        x = x.transpose(0, 1)  # (L, N, I)
        h0 = None if h0 is None else h0.transpose(0, 1)  # (D, N, H)
        c0 = None if c0 is None else c0.transpose(0, 1)  # (D, N, H)
    steps, batch = x.shape[0], x.shape[1]
    size, gates = node.hidden_size, node.gates
    zeros = x.new_zeros(node.num_directions, batch, size)  # (D, N, H)
    h0 = zeros if h0 is None else h0
    c0 = zeros if c0 is None else c0

    valid = None
    lengths = inputs.get("sequence_lens")
    if lengths is not None:
        time = torch.arange(steps, device=x.device)[:, None]  # (L, 1)
        valid = (time < lengths.to(x.device)[None, :])[..., None]  # (L, N, 1)

    bias, peephole = inputs.get("B"), inputs.get("P")
    ys, last_h, last_c = [], [], []
    for d in range(node.num_directions):
        weights = DirectionTensors(
            w=w[d],
            r=r[d],
            wb=None if bias is None else bias[d, : gates * size],
            rb=None if bias is None else bias[d, gates * size :],
            p=None if peephole is None or node.op != "LSTM" else peephole[d],
        )
        c = c0[d] if node.op == "LSTM" else None
        y, h, c = run_direction(node, d, weights, x, h0[d], c, valid)
        ys.append(y)  # (L, N, H)
        last_h.append(h)
        if c is not None:
            last_c.append(c)

    outputs = {"Y": torch.stack(ys, dim=1), "Y_h": torch.stack(last_h)}  # (L, D, N, H), (D, N, H)
    if last_c:
        outputs["Y_c"] = torch.stack(last_c)  # (D, N, H)
    if node.layout == 1:
        outputs["Y"] = outputs["Y"].permute(2, 0, 1, 3)  # (N, L, D, H)
        for name in ("Y_h", "Y_c"):
            if name in outputs:
                outputs[name] = outputs[name].transpose(0, 1)  # (N, D, H)
    return outputs
