"""Step-wise parity: from the implementation's own state at each step, one step of the
implementation against one step of the reference, forward and backward.

A chaotic recurrence can amplify rounding until two correct implementations disagree at the end
of a long sequence; a wrong kernel disagrees at a single step. Each layer and direction is run
as a one-layer, one-direction module of the implementation under test, one time step per call,
continuing from its own outputs; at every step the same step of the float64 reference starts
from the same state and input, and both are differentiated with the same random upstream.

The same step is also taken by the reference in the implementation's dtype. How much noisier
the implementation's steps are than that (``noise_ratio``) scales the noise floor: a kernel
whose every step is correct but rounds more coarsely than the reference (cuDNN's float32 does,
by about 30x on an H100) accumulates proportionally more error over a sequence.

At a kink of relu both one-sided derivatives are right: where the implementation's step took
one branch, the reference's gradient is taken on the same branch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnninspect.impl import Factory
from rnninspect.parity import Tolerance, compare
from rnninspect.reference.cells import rnn_preactivation
from rnninspect.reference.recurrence import DirectionWeights, direction_suffixes, step
from rnninspect.spec import RNNSpec

#: The reference's step error is taken as at least this fraction of the tolerance, so that the
#: ratio stays at most 100 where the same-dtype reference happens to be almost exact.
RATIO_FLOOR = 0.01


@dataclass
class Worst:
    """The largest error over tolerance seen so far, and where."""

    excess: float = 0.0
    where: str = ""

    def update(self, excess: float, where: str) -> None:
        if excess > self.excess or not self.where:
            self.excess, self.where = excess, where


@dataclass
class StepParity:
    """The worst single step, forward and backward, of the implementation and of the
    reference in the implementation's dtype; ``excess`` is error over tolerance."""

    steps: int = 0
    forward: Worst = field(default_factory=Worst)
    backward: Worst = field(default_factory=Worst)
    reference_forward: Worst = field(default_factory=Worst)
    reference_backward: Worst = field(default_factory=Worst)

    @property
    def forward_ok(self) -> bool:
        return self.forward.excess <= 1.0

    @property
    def backward_ok(self) -> bool:
        return self.backward.excess <= 1.0

    def noise_ratio(self, gradient: bool) -> float:
        """How many times noisier the implementation's steps are than the same-dtype
        reference's (at least 1); for gradient rows, forward and backward steps both count."""
        pairs = [(self.forward, self.reference_forward)]
        if gradient:
            pairs.append((self.backward, self.reference_backward))
        ratio = 1.0
        for mine, ours in pairs:
            if ours.excess > 0:
                ratio = max(ratio, mine.excess / max(ours.excess, RATIO_FLOOR))
        return ratio


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
    walk = _Walk(tolerance, torch.Generator().manual_seed(spec.seed + 3), StepParity())
    layer_input = x.detach()
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
            # training mode with dropout 0: cuDNN differentiates RNNs only in training mode
            module = module.to(device=x.device, dtype=x.dtype).train()
            label = f"layer {layer} {'reverse' if direction else 'forward'}"
            c = None if c0 is None else c0[index]
            out = walk.direction(one, module, weights, layer_input, h0[index], c, direction, label)
            outputs.append(out)
        layer_input = torch.cat(outputs, dim=-1)
    return walk.result


@dataclass
class _Walk:
    tolerance: Tolerance
    generator: torch.Generator
    result: StepParity

    def direction(
        self,
        spec: RNNSpec,
        module: nn.Module,
        weights: Mapping[str, Tensor],
        x: Tensor,
        h: Tensor,
        c: Tensor | None,
        reverse: int,
        label: str,
    ) -> Tensor:
        """Step one layer in one direction through time, the module feeding itself.

        x (L, N, H_in), h (N, H_out), c (N, H_cell). Returns the module's outputs (L, N, H_out).
        """
        params = dict(module.named_parameters())
        exact = _leaves(weights, params, torch.float64)
        same = _leaves(weights, params, x.dtype)
        order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs: list[Tensor] = [h] * x.shape[0]
        for t in order:
            where = f"{label}, step {t}"
            state = [x[t], h] + ([] if c is None else [c])
            mine = [value.detach().requires_grad_(True) for value in state]
            with torch.enable_grad():
                h_t = mine[1][None]
                _, final = module(mine[0][None], h_t if c is None else (h_t, mine[2][None]))
                got = [final[0]] if c is None else [final[0][0], final[1][0]]
            upstream = [
                torch.randn(value.shape, generator=self.generator, dtype=torch.float64)
                for value in got
            ]
            grads = _grads(got, upstream, [*mine, *params.values()])
            want, want_grads = _reference(spec, exact, state, got[0], upstream, torch.float64)
            near, near_grads = _reference(spec, same, state, got[0], upstream, x.dtype)

            names = ["h", "c"]
            grad_names = ["input", "h", "c"][: len(mine)] + list(params)
            for name, value, exact_value, near_value in zip(names, got, want, near, strict=False):
                here = f"{where}, {name}"
                self.result.forward.update(self._excess(value, exact_value), here)
                self.result.reference_forward.update(self._excess(near_value, exact_value), here)
            for name, grad, exact_grad, near_grad in zip(
                grad_names, grads, want_grads, near_grads, strict=True
            ):
                here = f"{where}, grad of {name}"
                self.result.backward.update(self._excess(grad, exact_grad), here)
                self.result.reference_backward.update(self._excess(near_grad, exact_grad), here)

            h = got[0].detach()
            if c is not None:
                c = got[1].detach()
            outputs[t] = h
            self.result.steps += 1
        return torch.stack(outputs)

    def _excess(self, actual: Tensor | None, expected: Tensor | None) -> float:
        return compare(actual, expected, self.tolerance).excess


def _leaves(
    weights: Mapping[str, Tensor], params: Mapping[str, Tensor], dtype: torch.dtype
) -> dict[str, Tensor]:
    """The step's weights in ``dtype``, as fresh leaves, in the module's parameter order."""
    return {name: weights[name].detach().to(dtype).requires_grad_(True) for name in params}


def _reference(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    state: list[Tensor],
    taken: Tensor,
    upstream: list[Tensor],
    dtype: torch.dtype,
) -> tuple[list[Tensor], list[Tensor | None]]:
    """One reference step in ``dtype`` from ``state`` (x, h[, c]), and its gradients with
    respect to the state and ``params``. ``taken`` is the implementation's new h: for relu, the
    branch it took at each element."""
    leaves = [value.detach().to(dtype).requires_grad_(True) for value in state]
    weights = DirectionWeights.of(params, "_l0")
    with torch.enable_grad():
        gi = weights.project_input(leaves[0])
        if spec.cell.family == "rnn" and spec.nonlinearity == "relu":
            pre = rnn_preactivation(gi, leaves[1], weights.w_hh, weights.b_hh)
            out = [torch.where(taken > 0, pre, torch.zeros_like(pre))]
        else:
            h, c = step(spec, weights, gi, leaves[1], leaves[2] if len(leaves) > 2 else None)
            out = [h] if c is None else [h, c]
    return out, _grads(out, upstream, [*leaves, *params.values()])


def _grads(outputs: list[Tensor], upstream: list[Tensor], wrt: list[Tensor]) -> list[Tensor | None]:
    """Vector-Jacobian products of ``outputs`` against ``upstream``; None where none flows."""
    pairs = [
        (o, u.to(device=o.device, dtype=o.dtype))
        for o, u in zip(outputs, upstream, strict=True)
        if o.requires_grad
    ]
    if not pairs:
        return [None] * len(wrt)
    loss = torch.stack([(o * u).sum() for o, u in pairs]).sum()
    targets = [w for w in wrt if w.requires_grad]
    found = iter(torch.autograd.grad(loss, targets, allow_unused=True))
    return [next(found) if w.requires_grad else None for w in wrt]
