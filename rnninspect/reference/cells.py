"""One time step of each cell, from the equations in torch's documentation.

Each step takes the input projection ``gi = x W_ih^T + b_ih`` already computed (the recurrence
hoists it out of the time loop, one matrix product for all steps) and adds the recurrent part.
Shapes: N batch, H_cell hidden_size, H_out the size of h (proj_size when projecting, else
H_cell), G the number of gates (1 RNN, 4 LSTM, 3 GRU).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _recurrent(h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """``h W_hh^T + b_hh``, the recurrent product of every gate at once (one ``addmm``: one
    operation, and one node for autograd, a step instead of two)."""
    if b_hh is None or h.dim() != 2:
        gh = h @ w_hh.T  # (N, G*H_cell)
        return gh if b_hh is None else gh + b_hh
    return torch.addmm(b_hh, h, w_hh.T)  # (N, G*H_cell)


def rnn_preactivation(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """``x W_ih^T + b_ih + h W_hh^T + b_hh``, what the Elman RNN's nonlinearity is applied to."""
    return gi + _recurrent(h, w_hh, b_hh)  # (N, H_cell)


def rnn_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str) -> Tensor:
    """Elman RNN: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act tanh or relu."""
    pre = rnn_preactivation(gi, h, w_hh, b_hh)  # (N, H_cell)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    gi: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """LSTM, gates in torch's row order i, f, g, o::

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)
    c' = f * c + i * g
    h' = o * tanh(c')            (then h' = h' W_hr^T when proj_size > 0)
    """
    gates = gi + _recurrent(h, w_hh, b_hh)  # (N, 4*H_cell)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (N, H_cell)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (N, H_cell)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)  # (N, H_cell)
    if w_hr is not None:
        h_next = h_next @ w_hr.T  # (N, H_out)
    return h_next, c_next


def gru_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU, gates in torch's row order r, z, n; the reset gate scales ``W_hn h + b_hn``::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h
    """
    gh = _recurrent(h, w_hh, b_hh)  # (N, 3*H_cell)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # each (N, H_cell)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)  # each (N, H_cell)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def gru_step_reset_before(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """Keras's GRU with ``reset_after=False`` (the Keras 1 / TF1 default), in torch's names and
    gate order: the reset gate scales h *before* the recurrent product, so ``b_hn`` sits outside
    it. No torch module computes this; ``rnninspect keras --no-reset-after`` checks Keras
    against it::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    h' = (1 - z) * n + z * h
    """
    w_hr, w_hz, w_hn = w_hh.chunk(3, dim=0)  # each (H_cell, H_cell)
    b_r, b_z, b_n = (None, None, None) if b_hh is None else b_hh.chunk(3)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # each (N, H_cell)
    r = torch.sigmoid(i_r + _recurrent(h, w_hr, b_r))
    z = torch.sigmoid(i_z + _recurrent(h, w_hz, b_z))
    n = torch.tanh(i_n + _recurrent(r * h, w_hn, b_n))
    return (1 - z) * n + z * h
