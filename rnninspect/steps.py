"""Step-wise parity: from the implementation's own state at each step, one step of the
implementation against one step of the reference, forward and backward.

A chaotic recurrence can amplify rounding until two correct implementations disagree at the end
of a long sequence; a wrong kernel disagrees at a single step. Each layer and direction is run
as a one-layer, one-direction module of the implementation under test, one time step per call,
continuing from its own outputs; at every step the same step of the float64 reference starts
from the same state and input, and both are differentiated with the same random upstream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnninspect.impl import Factory
from rnninspect.parity import Tolerance, compare
from rnninspect.reference.recurrence import DirectionWeights, direction_suffixes, step
from rnninspect.spec import RNNSpec


@dataclass(frozen=True)
class StepParity:
    """The worst single step, forward and backward; ``excess`` is error over tolerance."""

    steps: int
    forward_excess: float
    forward_where: str
    backward_excess: float
    backward_where: str

    @property
    def forward_ok(self) -> bool:
        return self.forward_excess <= 1.0

    @property
    def backward_ok(self) -> bool:
        return self.backward_excess <= 1.0


@dataclass
class _Worst:
    excess: float = 0.0
    where: str = ""

    def update(self, excess: float, where: str) -> None:
        if excess > self.excess or not self.where:
            self.excess, self.where = excess, where


def step_parity(
    spec: RNNSpec,
    factory: Factory,
    state_dict: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    tolerance: Tolerance,
) -> StepParity:
    """Check every step of every layer and direction of a sequence module (not the Cells)."""
    x = inputs["input"]
    h0, c0 = inputs["h0"], inputs.get("c0")
    if spec.unbatched:
        x, h0 = x.unsqueeze(1), h0.unsqueeze(1)
        c0 = None if c0 is None else c0.unsqueeze(1)
    elif spec.batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in)
    generator = torch.Generator().manual_seed(spec.seed + 3)
    forward, backward = _Worst(), _Worst()
    layer_input = x.detach()
    steps = 0
    for layer in range(spec.num_layers):
        outputs = []
        for direction, suffix in enumerate(direction_suffixes(spec, layer)):
            index = layer * spec.num_directions + direction
            one = dataclasses.replace(
                spec,
                input_size=layer_input.shape[-1],
                num_layers=1,
                bidirectional=False,
                batch_first=False,
                dropout=0.0,
                unbatched=False,
            )
            weights = {
                name.replace(suffix, "_l0"): value
                for name, value in state_dict.items()
                if name.endswith(suffix)
            }
            module = factory(**one.constructor_kwargs())
            module.load_state_dict(weights, strict=True)
            # train mode, with dropout 0: cuDNN differentiates RNNs only in training mode
            module = module.to(device=x.device, dtype=x.dtype).train()
            label = f"layer {layer} {'reverse' if direction else 'forward'}"
            out = _walk(
                one, module, weights, layer_input, h0[index],
                None if c0 is None else c0[index], direction == 1, tolerance,
                generator, forward, backward, label,
            )  # fmt: skip
            outputs.append(out)
            steps += layer_input.shape[0]
        layer_input = torch.cat(outputs, dim=-1)
    return StepParity(steps, forward.excess, forward.where, backward.excess, backward.where)


def _walk(
    spec: RNNSpec,
    module: nn.Module,
    weights: Mapping[str, Tensor],
    x: Tensor,
    h: Tensor,
    c: Tensor | None,
    reverse: bool,
    tolerance: Tolerance,
    generator: torch.Generator,
    forward: _Worst,
    backward: _Worst,
    label: str,
) -> Tensor:
    """Step one layer in one direction through time, the module feeding itself; x (L, N, H_in)."""
    params = dict(module.named_parameters())
    reference = {
        name: value.detach().to(torch.float64).requires_grad_(True)
        for name, value in weights.items()
    }
    ref_weights = DirectionWeights.of(reference, "_l0")
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outputs: list[Tensor] = [h] * x.shape[0]
    for t in order:
        where = f"{label}, step {t}"
        leaves = [x[t], h] + ([] if c is None else [c])
        mine = [value.detach().requires_grad_(True) for value in leaves]
        ours = [value.detach().to(torch.float64).requires_grad_(True) for value in leaves]

        with torch.enable_grad():
            x_t, h_t, c_t = mine[0], mine[1], (mine[2] if c is not None else None)
            state = h_t[None] if c_t is None else (h_t[None], c_t[None])
            _, final = module(x_t[None], state)  # one step: (1, N, H_in) in
            got = [final[0]] if c_t is None else [final[0][0], final[1][0]]
            ref_c = ours[2] if c is not None else None
            gi = ref_weights.project_input(ours[0])
            h_ref, c_ref = step(spec, ref_weights, gi, ours[1], ref_c)
            want = [h_ref] if c_ref is None else [h_ref, c_ref]
        names = ["h", "c"]
        for name, a, e in zip(names, got, want, strict=False):
            forward.update(compare(a, e, tolerance).excess, f"{where}, {name}")

        upstream = [torch.randn(e.shape, generator=generator, dtype=torch.float64) for e in want]
        grads_mine = _grads(got, upstream, [*mine, *params.values()])
        grads_ours = _grads(want, upstream, [*ours, *(reference[name] for name in params)])
        grad_names = ["input", "h", "c"][: len(mine)] + list(params)
        for name, grad, expected in zip(grad_names, grads_mine, grads_ours, strict=True):
            backward.update(compare(grad, expected, tolerance).excess, f"{where}, grad of {name}")

        h = got[0].detach()
        if c is not None:
            c = got[1].detach()
        outputs[t] = h
    return torch.stack(outputs)


def _grads(outputs: list[Tensor], upstream: list[Tensor], wrt: list[Tensor]) -> list[Tensor | None]:
    """Vector-Jacobian products of ``outputs`` against ``upstream``; None where none flows."""
    pairs = [
        (o, u.to(device=o.device, dtype=o.dtype))
        for o, u in zip(outputs, upstream, strict=True)
        if o.requires_grad
    ]
    if not pairs:
        return [None] * len(wrt)
    loss = sum((o * u).sum() for o, u in pairs)
    assert isinstance(loss, Tensor)
    targets = [w for w in wrt if w.requires_grad]
    found = iter(torch.autograd.grad(loss, targets, allow_unused=True))
    return [next(found) if w.requires_grad else None for w in wrt]
