"""One run of any side (torch's module, the reference, an ``--impl``): forward, then backward.

Every side is a ``Forward``: a function from the named inputs (``input``, ``h0``, ``c0``) to the
named results (``output``, ``h_n``, ...), over parameters the caller holds. ``run_with_grads``
differentiates it the same way for every side, so their gradients can be compared row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnninspect.base.errors import ImplementationFailed as ImplementationFailed
from rnninspect.base.signals import TimeLimitExceeded
from rnninspect.base.text import exception_line
from rnninspect.model.spec import RNNSpec
from rnninspect.reference import reference_forward

Forward = Callable[[Mapping[str, Tensor]], dict[str, Tensor]]


@dataclass
class Run:
    """One forward and backward pass: outputs and gradients by the contract's row names."""

    outputs: dict[str, Tensor]
    grads: dict[str, Tensor | None]
    misshapen: dict[str, str] = field(default_factory=dict)

    def rows(self) -> dict[str, Tensor | None]:
        return {**self.outputs, **self.grads}


def run_with_grads(
    forward: Forward,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
) -> Run:
    """Run ``forward`` on copies of ``inputs`` that require grad, then back-propagate
    ``sum(output * upstream)`` to the inputs, the initial state and every parameter.

    A result whose shape is not the upstream gradient's, or on another device than the inputs,
    takes no part in the backward pass; it is listed in ``misshapen``, since the gradients then
    cannot be compared with another side's.
    """
    leaves = {name: value.detach().clone().requires_grad_(True) for name, value in inputs.items()}
    misshapen: dict[str, str] = {}
    device = next(iter(leaves.values())).device
    with torch.enable_grad():
        outputs = forward(leaves)
        terms = []
        for name, value in outputs.items():
            given = upstream.get(name)
            if given is None:
                continue
            if value.device != device:
                misshapen[name] = f"{name} is on device {value.device}, not {device}"
            elif value.shape != given.shape:
                misshapen[name] = f"{name} has shape {list(value.shape)}, not {list(given.shape)}"
            elif value.requires_grad:
                terms.append((value * given.to(value)).sum())
    targets = [*leaves.values(), *params.values()]
    names = [f"grad:{name}" for name in leaves] + [f"grad:{name}" for name in params]
    found: list[Tensor | None] = [None] * len(targets)
    wanted = [i for i, t in enumerate(targets) if t.requires_grad]
    if terms and wanted:
        loss = torch.stack(terms).sum()
        try:
            grads = torch.autograd.grad(loss, [targets[i] for i in wanted], allow_unused=True)
        except RuntimeError as exc:
            message = exception_line(exc, named=False)
            raise ImplementationFailed(f"back-propagation failed: {message}") from None
        except SystemExit as exc:
            raise ImplementationFailed(f"back-propagation called exit({exc.code})") from None
        except (KeyboardInterrupt, TimeLimitExceeded):
            raise
        except BaseException as exc:  # a user's autograd.Function may raise anything
            raise ImplementationFailed(f"back-propagation raised {exception_line(exc)}") from None
        for i, grad in zip(wanted, grads, strict=True):
            found[i] = grad
    detached = {name: value.detach() for name, value in outputs.items()}
    return Run(detached, dict(zip(names, found, strict=True)), misshapen)


#: A side as the timer and the parity runs take it: its forward, its parameters, its inputs.
Side = tuple[Forward, Mapping[str, Tensor], Mapping[str, Tensor]]


def without_grad(forward: Forward, inputs: Mapping[str, Tensor]) -> Callable[[], object]:
    """A forward pass without autograd, ready for a timer to call."""

    def run() -> object:
        with torch.no_grad():
            return forward(inputs)

    return run


def reference_side(
    spec: RNNSpec,
    module: nn.Module,
    inputs: Mapping[str, Tensor],
    device: torch.device,
    dtype: torch.dtype = torch.float64,
    reset_after: bool = True,
) -> Side:
    """The reference's forward, the module's weights and the inputs, cast to ``dtype`` on
    ``device``: what :func:`run_with_grads` and the timer take (``reset_after=False``: Keras's
    GRU variant, for ``rnninspect keras``)."""
    params = {
        name: value.detach().to(device, dtype).requires_grad_(True)
        for name, value in module.named_parameters()
    }
    cast = {name: value.to(device, dtype) for name, value in inputs.items()}
    return (lambda x: reference_forward(spec, params, x, reset_after)), params, cast
