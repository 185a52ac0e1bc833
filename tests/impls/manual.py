"""An independent implementation of torch's recurrent layers, and wrong variants of it.

Used through ``--impl tests/impls/manual.py:NAME`` to prove that verify accepts a correct
implementation and catches each planted fault. Written apart from rnninspect's reference: gates
are computed one by one from row slices, with no hoisting, so a shared mistake is unlikely.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor, nn

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


class Manual(nn.Module):
    """RNN/LSTM/GRU (or the Cell variant when ``cell``) with torch's parameter names."""

    fault: str | None = None

    def __init__(
        self,
        mode: str,
        cell: bool,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        self.mode, self.cell, self.hidden_size = mode, cell, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.directions = 2 if bidirectional else 1
        self.proj_size, self.nonlinearity = proj_size, nonlinearity
        out = proj_size or hidden_size
        rows = GATES[mode] * hidden_size
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            for direction in range(self.directions):
                suffix = self._suffix(layer, direction)
                width = input_size if layer == 0 else out * self.directions
                shapes = {"weight_ih": (rows, width), "weight_hh": (rows, out)}
                if bias:
                    shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    value = torch.empty(shape).uniform_(-bound, bound)
                    self.register_parameter(name + suffix, nn.Parameter(value))

    def _suffix(self, layer: int, direction: int) -> str:
        if self.cell:
            return ""
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _p(self, name: str, suffix: str) -> Tensor | None:
        return getattr(self, name + suffix, None)

    def _linear(
        self, x: Tensor, name: str, suffix: str, gate: int, use_bias: bool = True
    ) -> Tensor:
        """Gate ``gate``'s rows of ``x W^T + b``, computed from a row slice."""
        h = self.hidden_size
        weight = self._p("weight_" + name, suffix)
        assert weight is not None
        if self.fault == "no_grad_weight_hh" and name == "hh":
            weight = weight.detach()
        y = x @ weight[gate * h : (gate + 1) * h].T
        bias = self._p("bias_" + name, suffix)
        skip = self.fault == "ignore_bias_hh" or (
            self.fault == "l1_reverse_ignores_bias_hh" and suffix == "_l1_reverse"
        )
        if bias is not None and use_bias and not (skip and name == "hh"):
            y = y + bias[gate * h : (gate + 1) * h]
        return y

    def _step(
        self, x: Tensor, h: Tensor, c: Tensor | None, suffix: str
    ) -> tuple[Tensor, Tensor | None]:
        lin = self._linear
        if self.mode == "RNN":
            gi, gh = lin(x, "ih", suffix, 0), lin(h, "hh", suffix, 0)
            pre = gi + gh
            if self.nonlinearity == "tanh":
                return torch.tanh(pre), None
            if self.fault == "relu_shifted":  # pre-activations 0.02 high: inside bfloat16's
                pre = pre + 0.02  # tolerance forward, but across relu's kink near 0
            if self.fault == "relu_leaks_gradient":  # relu forward, identity backward
                return pre + (torch.relu(pre) - pre).detach(), None
            if self.fault == "relu_recomputed":
                return _ReluRecomputed.apply(pre, (gi.abs() + gh.abs()).detach()), None
            return torch.relu(pre), None
        if self.mode == "LSTM":
            order = [1, 0, 2, 3] if self.fault == "gate_order" else [0, 1, 2, 3]
            i, f, g, o = (lin(x, "ih", suffix, k) + lin(h, "hh", suffix, k) for k in order)
            assert c is not None
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            w_hr = self._p("weight_hr", suffix)
            return (h if w_hr is None else h @ w_hr.T), c
        r = torch.sigmoid(lin(x, "ih", suffix, 0) + lin(h, "hh", suffix, 0))
        z = torch.sigmoid(lin(x, "ih", suffix, 1) + lin(h, "hh", suffix, 1))
        if self.fault == "reset_before_product":
            n = torch.tanh(lin(x, "ih", suffix, 2) + lin(r * h, "hh", suffix, 2))
        else:
            n = torch.tanh(lin(x, "ih", suffix, 2) + r * lin(h, "hh", suffix, 2))
        return (1 - z) * n + z * h, None

    def forward(self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None):  # type: ignore[no-untyped-def]
        h0, c0 = state if isinstance(state, tuple) else (state, None)
        if self.fault == "slow":  # right, but 5 ms slower a call: for bench --impl
            time.sleep(0.005)
        if self.cell:
            return self._cell_forward(x, h0, c0)
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            h0 = h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        length = x.shape[0]
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                h, c = h0[k], (None if c0 is None else c0[k])
                backwards = direction == 1 and self.fault != "reverse_not_reversed"
                steps = reversed(range(length)) if backwards else range(length)
                out: list[Tensor | None] = [None] * length
                for t in steps:
                    h, c = self._step(x[t], h, c, self._suffix(layer, direction))
                    out[t] = h
                outs.append(torch.stack(out))  # type: ignore[arg-type]
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            x = torch.cat(outs, dim=-1)
        output, hn = x, torch.stack(h_n)
        if self.fault == "output_off_by_1e-3":
            output = output + 1e-3
        cn = torch.stack(c_n) if c_n else None
        if unbatched:
            output, hn = output.squeeze(1), hn.squeeze(1)
            cn = None if cn is None else cn.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (hn if cn is None else (hn, cn))

    def _cell_forward(self, x: Tensor, h: Tensor, c: Tensor | None):  # type: ignore[no-untyped-def]
        h1, c1 = self._step(x, h, c, "")
        return h1 if c1 is None else (h1, c1)


class _ReluRecomputed(torch.autograd.Function):
    """relu whose backward takes its mask from the pre-activation recomputed one bfloat16
    epsilon (2^-7) of its terms' magnitude higher, as a kernel that recomputes it in its
    backward pass with bfloat16's rounding could: right within bfloat16's precision, far off
    in float32's."""

    @staticmethod
    def forward(ctx, pre, scale):  # type: ignore[no-untyped-def,override]
        ctx.save_for_backward(pre, scale)
        return torch.relu(pre)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def,override]
        pre, scale = ctx.saved_tensors
        return grad * (pre + scale * 2.0**-7 > 0).to(grad.dtype), None


def _factory(mode: str, cell: bool = False, fault: str | None = None):  # type: ignore[no-untyped-def]
    def make(**kwargs):  # type: ignore[no-untyped-def]
        module = Manual(mode, cell, **kwargs)
        module.fault = fault
        return module

    return make


RNN, LSTM, GRU = _factory("RNN"), _factory("LSTM"), _factory("GRU")
RNNCell, LSTMCell, GRUCell = (_factory(m, cell=True) for m in ("RNN", "LSTM", "GRU"))

# Planted faults, one each.
LSTMWrongGateOrder = _factory("LSTM", fault="gate_order")
GRUResetBeforeProduct = _factory("GRU", fault="reset_before_product")
GRUReverseNotReversed = _factory("GRU", fault="reverse_not_reversed")
RNNIgnoresBias = _factory("RNN", fault="ignore_bias_hh")
LSTMOutputOff = _factory("LSTM", fault="output_off_by_1e-3")
GRUNoGradWeightHH = _factory("GRU", fault="no_grad_weight_hh")
LSTMCellWrongGateOrder = _factory("LSTM", cell=True, fault="gate_order")
RNNReluShifted = _factory("RNN", fault="relu_shifted")
RNNCellReluShifted = _factory("RNN", cell=True, fault="relu_shifted")
RNNReluLeaksGradient = _factory("RNN", fault="relu_leaks_gradient")
RNNCellReluLeaksGradient = _factory("RNN", cell=True, fault="relu_leaks_gradient")
RNNReluRecomputed = _factory("RNN", fault="relu_recomputed")
RNNCellReluRecomputed = _factory("RNN", cell=True, fault="relu_recomputed")
GRULayer1ReverseIgnoresBias = _factory("GRU", fault="l1_reverse_ignores_bias_hh")
LSTMSlowed = _factory("LSTM", fault="slow")


def NotAModule(**kwargs):  # type: ignore[no-untyped-def]
    return {"weights": kwargs}


def WrongNames(**kwargs):  # type: ignore[no-untyped-def]
    return nn.Linear(kwargs["input_size"], kwargs["hidden_size"])


NOT_CALLABLE = 42
