"""Step-wise parity: the implementation as the user built it, one time step at a time from the
reference's own states, against one step of the reference, forward and backward.

A chaotic recurrence can amplify rounding until two correct implementations disagree at the end
of a long sequence; a wrong kernel disagrees at a single step. For every time step t the whole
module (every layer and direction) is called on the one-step input ``x[t]`` with an initial
state that holds, for each layer and direction, the float64 reference's state just before its
step at t: after step t-1 for the forward direction, after step t+1 for the reverse one. Every
layer and direction then takes exactly its step at t, and ``h_n`` (``c_n``) of that call holds
each one's result. The reference takes the same step of the whole stack from the same state,
and both are differentiated with the same random upstream gradient, so gradient rows carry the
module's own parameter names (``bias_hh_l1_reverse``), and a fault that lives in one layer or
direction shows there.

The same step is also taken by the reference in the implementation's dtype. How much noisier
the implementation's steps are than that (``noise_ratio``) scales the noise floor: a kernel
whose every step is correct but rounds more coarsely than the reference (cuDNN's float32 does,
by about 30x on an H100) accumulates proportionally more error over a sequence.

With ``lengths`` each step feeds only the sequences still running at t, packed with length 1,
so the implementation's packed path runs; how it handles sequences that end at different steps
cannot show in one step, and the report says so.

At a kink of relu both one-sided derivatives are right: where the implementation's step took
one branch, the reference's gradient is taken on the same branch, and no upstream gradient
reaches a pre-activation at the kink (``step_reference.py``). A relu RNNCell is one step
already: :func:`cell_parity` checks it on its own branches, against the same rows. A step the
dtype cannot hold is counted, not checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from rnninspect.core.parity import RANGE_MARGIN, Comparison, Tolerance, compare
from rnninspect.core.runs import Forward, Run, run_with_grads
from rnninspect.model.spec import RNNSpec
from rnninspect.reference.recurrence import DirectionWeights, direction_suffixes, step
from rnninspect.reference.step import cell_on_branch, kink_free_upstream, one_step
from rnninspect.reports.verify import StepParity

#: What the module's one-step call returns: its results by the contract's names.
StepForward = Callable[[nn.Module, RNNSpec, dict[str, Tensor]], dict[str, Tensor]]


def step_parity(
    spec: RNNSpec,
    module: nn.Module,
    forward: StepForward,
    state_dict: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    tolerance: Tolerance,
) -> StepParity:
    """Check every time step of a sequence module (not the Cells), every layer and direction
    at once; ``forward`` calls the module as verify does."""
    x, h0, c0 = _time_major(spec, inputs)
    valid = None
    if spec.lengths is not None:
        time = torch.arange(x.shape[0])[:, None]  # (L, 1)
        valid = time < torch.tensor(spec.lengths)[None, :]  # (L, N)
    cpu = torch.device("cpu")
    exact = {name: value.detach().to(cpu, torch.float64) for name, value in state_dict.items()}
    states = _trajectory(spec, exact, x.to(cpu, torch.float64), h0.to(cpu), _cpu(c0), valid)
    generator = torch.Generator().manual_seed(spec.seed + 3)
    result = StepParity(packed=spec.lengths is not None)
    params = dict(module.named_parameters())
    for t in range(x.shape[0]):
        active = torch.arange(x.shape[1]) if valid is None else valid[t].nonzero()[:, 0]
        one = dataclasses.replace(
            spec,
            seq_len=1,
            batch=len(active),
            lengths=None if valid is None else (1,) * len(active),
        )
        h_t, c_t = states[t]
        step_inputs = _layout(
            one,
            x[t, active.to(x.device)],
            h_t[:, active].to(x.device, x.dtype),
            None if c_t is None else c_t[:, active].to(x.device, x.dtype),
        )
        upstream = _upstream(one, generator, x.device)
        if spec.relu:
            upstream["h_n"] = kink_free_upstream(one, exact, step_inputs, x.dtype, upstream["h_n"])

        def call(step_inputs: Mapping[str, Tensor], one: RNNSpec = one) -> dict[str, Tensor]:
            return _finals(forward(module, one, dict(step_inputs)))

        mine = run_with_grads(call, params, step_inputs, upstream)
        taken = mine.outputs.get("h_n")
        want = _reference_run(one, state_dict, step_inputs, upstream, taken, torch.float64)
        if not _in_range(want, step_inputs, x.dtype):
            result.out_of_range += 1
            continue
        near = _reference_run(one, state_dict, step_inputs, upstream, taken, x.dtype)
        _record(result, spec, t, mine, want, near, tolerance)
        result.steps += 1
    return result


def _in_range(want: Run, inputs: Mapping[str, Tensor], dtype: torch.dtype) -> bool:
    """Whether a step can be taken in ``dtype`` at all: its inputs (the float64 reference's
    state, cast) are finite there, and the float64 reference's results and gradients from
    them lie within :data:`RANGE_MARGIN` of its largest value."""
    largest = torch.finfo(dtype).max * RANGE_MARGIN
    if not all(bool(value.isfinite().all()) for value in inputs.values()):
        return False
    found = [value for value in want.rows().values() if value is not None]
    return all(bool((value.abs() <= largest).all()) for value in found)


def _time_major(
    spec: RNNSpec, inputs: Mapping[str, Tensor]
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The input as (L, N, H_in) and the states as (D*num_layers, N, H), whatever the layout."""
    x, h0, c0 = inputs["input"], inputs["h0"], inputs.get("c0")
    if spec.unbatched:
        x, h0 = x.unsqueeze(1), h0.unsqueeze(1)  # (L, 1, H_in), (D*layers, 1, H_out)
        c0 = None if c0 is None else c0.unsqueeze(1)
    elif spec.batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in)
    return x.detach(), h0.detach(), None if c0 is None else c0.detach()


def _cpu(value: Tensor | None) -> Tensor | None:
    return None if value is None else value.cpu()


def _layout(spec: RNNSpec, x: Tensor, h: Tensor, c: Tensor | None) -> dict[str, Tensor]:
    """One step's inputs in the layout the module was built for: x (N, H_in) becomes
    (1, N, H_in), (N, 1, H_in) with batch_first, or (1, H_in) unbatched."""
    if spec.unbatched:
        step_inputs = {"input": x, "h0": h[:, 0]}  # (1, H_in), (D*layers, H_out)
        if c is not None:
            step_inputs["c0"] = c[:, 0]
        return step_inputs
    step_inputs = {"input": x[:, None] if spec.batch_first else x[None], "h0": h}
    if c is not None:
        step_inputs["c0"] = c
    return step_inputs


def _upstream(spec: RNNSpec, generator: torch.Generator, device: torch.device) -> dict[str, Tensor]:
    """A random upstream gradient for the step's final states, float64."""
    shape = (spec.num_layers * spec.num_directions,) + (() if spec.unbatched else (spec.batch,))
    names = {"h_n": spec.out_size}
    if spec.has_cell_state:
        names["c_n"] = spec.hidden_size
    return {
        name: torch.randn((*shape, size), generator=generator, dtype=torch.float64).to(device)
        for name, size in names.items()
    }


def _finals(results: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The final states of a one-step call: each layer and direction's result at that step."""
    return {name: results[name] for name in ("h_n", "c_n") if name in results}


def _trajectory(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    x: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    valid: Tensor | None,
) -> list[tuple[Tensor, Tensor | None]]:
    """For every time step, each layer and direction's float64 state just before its step there.

    x (L, N, H_in), h0 (D*layers, N, H_out), c0 (D*layers, N, H_cell), valid (L, N) or None.
    Returns L pairs of (D*layers, N, H_out) and (D*layers, N, H_cell) or None.
    """
    length = x.shape[0]
    h_before: list[list[Tensor]] = [[] for _ in range(length)]
    c_before: list[list[Tensor]] = [[] for _ in range(length)]
    layer_input = x
    with torch.no_grad():
        for layer in range(spec.num_layers):
            outputs = []
            for direction, suffix in enumerate(direction_suffixes(spec, layer)):
                index = layer * spec.num_directions + direction
                weights = DirectionWeights.of(params, suffix)
                gi = weights.project_input(layer_input)  # (L, N, G*H_cell)
                h = h0[index].to(torch.float64)  # (N, H_out)
                c = None if c0 is None else c0[index].to(torch.float64)  # (N, H_cell)
                out: list[Tensor] = [h] * length
                for t in range(length - 1, -1, -1) if direction else range(length):
                    h_before[t].append(h)
                    if c is not None:
                        c_before[t].append(c)
                    h_next, c_next = step(spec, weights, gi[t], h, c)
                    inside = torch.ones_like(h[:, :1], dtype=torch.bool)
                    if valid is not None:
                        inside = valid[t][:, None]  # (N, 1)
                    h = torch.where(inside, h_next, h)
                    if c is not None and c_next is not None:
                        c = torch.where(inside, c_next, c)
                    out[t] = torch.where(inside, h_next, torch.zeros_like(h_next))
                outputs.append(torch.stack(out))  # (L, N, H_out)
            layer_input = torch.cat(outputs, dim=-1)  # (L, N, D*H_out)
    # the lists were filled layer by layer, forward before reverse: the order of h_n's rows
    return [
        (torch.stack(h_before[t]), torch.stack(c_before[t]) if c_before[t] else None)
        for t in range(length)
    ]


def _reference_run(
    spec: RNNSpec,
    state_dict: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
    taken: Tensor | None,
    dtype: torch.dtype,
) -> Run:
    """One step of the reference's whole stack in ``dtype``, with its gradients."""
    params = {
        name: value.detach().to(dtype).requires_grad_(True) for name, value in state_dict.items()
    }
    cast = {name: value.to(dtype) for name, value in inputs.items()}
    branch = None if taken is None or not spec.relu else taken > 0
    run = cell_on_branch if spec.cell.is_cell else one_step
    return run_with_grads(lambda i: run(spec, params, i, branch), params, cast, upstream)


def cell_parity(
    spec: RNNSpec,
    forward: Forward,
    params: Mapping[str, Tensor],
    state_dict: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
    tolerance: Tolerance,
) -> StepParity | None:
    """A relu RNNCell's step check: the Cell is one step, so its step is the implementation's
    ``forward`` once more, with the upstream gradient zero where the pre-activation is at the
    kink (:func:`kink_free_upstream`), and the reference takes it on the branches of relu the
    implementation took (where its ``h1`` came out positive), in float64 and in the
    implementation's dtype. None for any other Cell, whose one step is exactly what its rows
    compare."""
    if not spec.relu:
        return None
    dtype = inputs["input"].dtype
    exact = {name: value.detach().cpu().double() for name, value in state_dict.items()}
    upstream = {**upstream, "h1": kink_free_upstream(spec, exact, inputs, dtype, upstream["h1"])}
    mine = run_with_grads(forward, params, inputs, upstream)
    taken = mine.outputs.get("h1")
    want = _reference_run(spec, state_dict, inputs, upstream, taken, torch.float64)
    if not _in_range(want, inputs, dtype):
        return StepParity(out_of_range=1)
    near = _reference_run(spec, state_dict, inputs, upstream, taken, dtype)
    result = StepParity(steps=1)
    _record(result, spec, 0, mine, want, near, tolerance)
    return result


def _record(
    result: StepParity,
    spec: RNNSpec,
    t: int,
    mine: Run,
    want: Run,
    near: Run,
    tolerance: Tolerance,
) -> None:
    """Fold one step's comparisons into the worst seen, each named by where it is."""
    for name, expected in want.outputs.items():
        got = compare(mine.outputs.get(name), expected, tolerance)
        where = f"step {t}, {name}{_row_label(spec, got.worst)}"
        if spec.cell.is_cell:
            where = name if got.worst is None else f"{name}{list(got.worst)}"
        result.forward.update(got.excess, where)
        noise = compare(near.outputs.get(name), expected, tolerance)
        result.reference_forward.update(noise.excess, where)
        result.forward_beyond = max(result.forward_beyond, _beyond(got, noise))
    for name, expected_grad in want.grads.items():
        got = compare(mine.grads.get(name), expected_grad, tolerance)
        where = f"step {t}, {name.replace('grad:', 'grad of ')}"
        if spec.cell.is_cell:
            where = name.replace("grad:", "grad of ")
        elif name in ("grad:h0", "grad:c0"):
            where += _row_label(spec, got.worst)
        result.backward.update(got.excess, where)
        noise = compare(near.grads.get(name), expected_grad, tolerance)
        result.reference_backward.update(noise.excess, where)
        result.backward_beyond = max(result.backward_beyond, _beyond(got, noise))


def _beyond(got: Comparison, noise: Comparison) -> float:
    """A step's error over what it is allowed: its tolerance, or NOISE_FACTOR times the
    same-dtype reference's error on the same step where that is larger. inf when missing or
    non-finite on the implementation's side only."""
    allowed = 1.0
    if math.isfinite(noise.excess):
        allowed = max(allowed, StepParity.allowance * noise.excess)
    return got.excess / allowed


def _row_label(spec: RNNSpec, index: tuple[int, ...] | None) -> str:
    """``[2] (layer 1 forward)`` for a row of h_n, c_n, h0 or c0."""
    if not index:
        return ""
    row = index[0]
    layer, direction = divmod(row, spec.num_directions)
    return f"[{row}] (layer {layer} {'reverse' if direction else 'forward'})"
