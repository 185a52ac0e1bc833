"""Implementations that break verify's expectations in the ways third-party code did.

Each wraps or subclasses torch's own module so that the only fault is the one named.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence


class FlatLSTM(nn.LSTM):
    """Returns ``(output, h_n, c_n)``, flat, instead of ``(output, (h_n, c_n))``."""

    def forward(self, x: Any, state: Any = None) -> Any:  # type: ignore[override]
        output, (h_n, c_n) = super().forward(x, state)
        return output, h_n, c_n


class ShortOutputGRU(nn.GRU):
    """Drops the last time step of ``output``."""

    def forward(self, x: Any, state: Any = None) -> Any:  # type: ignore[override]
        output, h_n = super().forward(x, state)
        return output[:-1], h_n


class Float32StateLSTM(nn.LSTM):
    """Returns h_n and c_n in float32 whatever the dtype of the module."""

    def forward(self, x: Any, state: Any = None) -> Any:  # type: ignore[override]
        output, (h_n, c_n) = super().forward(x, state)
        return output, (h_n.float(), c_n.float())


class EarlyEndsDetachedLSTM(nn.LSTM):
    """With packed input, cuts the gradient through h_n and c_n of every sequence shorter than
    the longest, as code that copies ``.data`` of the sorted final states does."""

    def forward(self, x: Any, state: Any = None) -> Any:  # type: ignore[override]
        output, (h_n, c_n) = super().forward(x, state)
        if isinstance(x, PackedSequence):
            lengths = _lengths(x)
            short = (lengths < lengths.max())[None, :, None]  # (1, N, 1)
            h_n = torch.where(short, h_n.detach(), h_n)
            c_n = torch.where(short, c_n.detach(), c_n)
        return output, (h_n, c_n)


def _lengths(packed: PackedSequence) -> Tensor:
    """Each sequence's length, in the caller's order."""
    sizes = packed.batch_sizes
    batch = int(sizes[0])
    counts = torch.tensor([int((sizes > i).sum()) for i in range(batch)])
    if packed.unsorted_indices is not None:
        counts = counts[packed.unsorted_indices]
    return counts


class Wrapped(nn.Module):
    """Holds torch's LSTM as ``self.lstm``: its state_dict keys start with ``lstm.``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.lstm = nn.LSTM(**kwargs)

    def forward(self, x: Any, state: Any = None) -> Any:
        return self.lstm(x, state)


class TransposedGRU(nn.GRU):
    """Returns the output with its first two dimensions swapped, as code that mixes up
    batch_first does; with L = N the shape is the expected one."""

    def forward(self, x, hx=None):  # type: ignore[no-untyped-def]
        output, h_n = super().forward(x, hx)
        return output.transpose(0, 1), h_n


class ForgetBiasLSTM(nn.LSTM):
    """Adds 0.5 to the forget gate's pre-activation of every layer: a fault in one gate's
    bias, as a hand-written kernel that adds a forget bias twice has."""

    def forward(self, x, hx=None):  # type: ignore[no-untyped-def]
        from torch.func import functional_call

        shifted = {}
        for name, value in self.named_parameters():
            if name.startswith("bias_ih"):
                offset = torch.zeros_like(value)
                offset[self.hidden_size : 2 * self.hidden_size] = 0.5
                value = value + offset
            shifted[name] = value
        return functional_call(nn.LSTM(**self._settings()), shifted, (x, hx))

    def _settings(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "bidirectional": self.bidirectional,
            "proj_size": self.proj_size,
        }
