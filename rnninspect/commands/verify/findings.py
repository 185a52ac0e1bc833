"""What a failing row's errors look like as a whole, beyond its worst element: the hint that
turns "the output fails" into the bug.

- **transposed**: a square (L = N) output returned as (N, L, ...) where (L, N, ...) is expected
  has the reference's shape, and fails everywhere; set against the reference transposed, it
  matches;
- **gate**: a parameter's gradient whose errors lie in one gate's rows (a fault in the forget
  gate's bias) is named by that gate, which its worst element need not be in (the fault moves
  the other gates' gradients a little everywhere, the worst of those can be larger);
- **samples**: in a packed batch, the samples whose rows pass and those that fail, with their
  lengths, where the failure follows the sequence length.

- **gate** of a forward fault: one step of the implementation, from random states, set beside
  the reference's step; where the difference is what a shift of one gate's pre-activation,
  the same for every sample, would make (a fault in that gate's bias, or in what adds to it),
  that gate is named (:func:`gate_of_step`).

Each is measured on the implementation's own results; none changes a verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from rnninspect.core.parity import Tolerance, compare
from rnninspect.model.spec import RNNSpec

#: A gate "carries" a row's error where its rows hold at least this share of the summed error.
GATE_SHARE = 0.8


def finding(
    spec: RNNSpec, name: str, actual: Tensor | None, expected: Tensor | None, tolerance: Tolerance
) -> str | None:
    """The shape of a failing row's error, in a sentence; None where nothing stands out."""
    if actual is None or expected is None or actual.shape != expected.shape:
        return None
    found = _transposed(spec, name, actual, expected, tolerance)
    if found is None:
        found = _gate(spec, name, actual, expected)
    if found is None:
        found = _samples(spec, name, actual, expected, tolerance)
    return found


def _transposed(
    spec: RNNSpec, name: str, actual: Tensor, expected: Tensor, tolerance: Tolerance
) -> str | None:
    if (
        name not in ("output", "grad:input")
        or actual.dim() < 3
        or actual.shape[0] != actual.shape[1]
    ):
        return None
    if not compare(actual.transpose(0, 1), expected, tolerance).within():
        return None
    layout = "(N, L, ...)" if not spec.batch_first else "(L, N, ...)"
    wanted = "(L, N, ...)" if not spec.batch_first else "(N, L, ...)"
    return (
        f"it matches the reference with its first two dimensions swapped: the implementation "
        f"returns {layout} where batch_first={spec.batch_first} needs {wanted} (L = N = "
        f"{actual.shape[0]} here, so the shapes alone cannot show it)"
    )


def _gate(spec: RNNSpec, name: str, actual: Tensor, expected: Tensor) -> str | None:
    """Where the gates of a gate-stacked parameter (or its gradient) hold the error."""
    parameter = name.removeprefix("grad:")
    gates = spec.cell.gate_names
    if len(gates) < 2 or not parameter.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
        return None
    if actual.shape[0] != len(gates) * spec.hidden_size:
        return None
    error = (actual.detach().double().cpu() - expected.detach().double().cpu()).abs()
    per_gate = error.reshape(len(gates), spec.hidden_size, -1).sum(dim=(1, 2))
    total = float(per_gate.sum())
    if total <= 0:
        return None
    shares = (per_gate / total).tolist()
    top = max(range(len(gates)), key=shares.__getitem__)
    if shares[top] < GATE_SHARE:
        return None
    rows = f"{top * spec.hidden_size}:{(top + 1) * spec.hidden_size}"
    return (
        f"gate {gates[top]}'s rows ({rows}) carry {shares[top]:.0%} of the error: look at what "
        f"computes gate {gates[top]}"
    )


def _samples(
    spec: RNNSpec, name: str, actual: Tensor, expected: Tensor, tolerance: Tolerance
) -> str | None:
    """In a packed batch, which samples pass and which fail, with their lengths."""
    if spec.lengths is None:
        return None
    axis = _sample_axis(spec, name)
    if axis is None or actual.shape[axis] != len(spec.lengths):
        return None
    failing = [
        sample
        for sample in range(len(spec.lengths))
        if not compare(
            actual.select(axis, sample), expected.select(axis, sample), tolerance
        ).within()
    ]
    if not failing or len(failing) == len(spec.lengths):
        return None
    passing = [s for s in range(len(spec.lengths)) if s not in failing]

    def listed(samples: list[int]) -> str:
        lengths = ", ".join(str(spec.lengths[s]) for s in samples)  # type: ignore[index]
        return f"{', '.join(map(str, samples))} (length{'s' if len(samples) > 1 else ''} {lengths})"

    longest = max(spec.lengths)
    short = all(spec.lengths[s] < longest for s in failing)
    return f"samples {listed(passing)} pass; samples {listed(failing)} fail" + (
        "; only sequences shorter than the longest fail: look at how the implementation "
        "ends a sequence before the batch does"
        if short
        else ""
    )


def _sample_axis(spec: RNNSpec, name: str) -> int | None:
    plain = name.removeprefix("grad:")
    if plain in ("input", "output"):
        return 0 if spec.batch_first else 1
    if plain in ("h0", "c0", "h_n", "c_n"):
        return 1
    return None


#: Samples in the one-step probe of :func:`gate_of_step`.
PROBE_BATCH = 16

#: A gate is named where a shift of its pre-activation explains all but this share of the step's
#: difference (squared), and explains it this many times better than any other gate.
FIT_LEFT, FIT_MARGIN = 0.05, 4.0

Step = Callable[[RNNSpec, Mapping[str, Tensor]], dict[str, Tensor]]


def gate_notes(
    spec: RNNSpec, failing: set[str], step: Step, state: Mapping[str, Tensor]
) -> list[str]:
    """The note naming the gate at fault (:func:`gate_of_step`), where a forward row fails."""
    if not failing & {"output", "h_n", "c_n", "h1", "c1"}:
        return []
    gate = gate_of_step(spec, step, state)
    return [] if gate is None else [gate[0].upper() + gate[1:] + "."]


def gate_of_step(spec: RNNSpec, step: Step, state: Mapping[str, Tensor]) -> str | None:
    """Which gate's pre-activation is off in one step of the implementation (layer 0, forward),
    or None where no single gate's shift explains the difference (or it is no LSTM or GRU).

    The implementation runs one step (``step``, on a spec of one step and
    :data:`PROBE_BATCH` samples) from random states; the reference's step runs in float64 with
    a shift added to every pre-activation, and autograd gives how each output moves with each
    unit's shift (for one step, unit j's pre-activations move unit j's outputs alone). For each
    gate, the per-unit shift that best explains the difference, the same for every sample, is
    fitted, and the share of the difference it leaves is measured.
    """
    family = spec.cell.family
    if family not in ("lstm", "gru") or spec.proj_size:
        return None
    tag = "" if spec.cell.is_cell else "_l0"
    names = [f"{kind}{tag}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    w_ih, w_hh = (state[name].detach().double().cpu() for name in names[:2])
    b_ih, b_hh = (
        state[name].detach().double().cpu() if name in state else None for name in names[2:]
    )
    given, found = _probe(spec, step)
    if found is None:
        return None
    x, h0, c0 = (given[name].double() for name in ("x", "h", "c"))
    gi = x @ w_ih.T + (0 if b_ih is None else b_ih)  # (N, G*H)
    shift = torch.zeros_like(gi, requires_grad=True)
    from rnninspect.reference import cells

    outputs: tuple[Tensor, ...]
    with torch.enable_grad():
        if family == "lstm":
            outputs = cells.lstm_step(gi + shift, h0, c0, w_hh, b_hh, None)  # (N, H) each
        else:
            outputs = (cells.gru_step(gi + shift, h0, w_hh, b_hh),)
        slopes = [torch.autograd.grad(out.sum(), shift, retain_graph=True)[0] for out in outputs]
    differences = [found[index].double() - out.detach() for index, out in enumerate(outputs)]
    total = sum(float((d**2).sum()) for d in differences)
    if total == 0:
        return None
    hidden, gates = spec.hidden_size, spec.cell.gate_names
    left = []
    for gate in range(len(gates)):
        block = slice(gate * hidden, (gate + 1) * hidden)
        rows = [(slope[:, block], diff) for slope, diff in zip(slopes, differences, strict=True)]
        moved = torch.stack([(j * d).sum(dim=0) for j, d in rows]).sum(dim=0)  # (H,)
        weight = torch.stack([(j * j).sum(dim=0) for j, _ in rows]).sum(dim=0)  # (H,)
        best = torch.where(weight > 0, moved / weight.clamp_min(1e-300), 0.0)  # (H,)
        residual = sum(float(((d - j * best) ** 2).sum()) for j, d in rows)
        left.append(residual / total)
    order = sorted(range(len(gates)), key=left.__getitem__)
    first, second = order[0], order[1]
    if left[first] > FIT_LEFT or left[second] < FIT_MARGIN * left[first]:
        return None
    return (
        f"one step of the implementation (layer 0, {PROBE_BATCH} samples) differs from the "
        f"reference's as a shift of gate {gates[first]}'s pre-activation, the same for every "
        f"sample, would make it ({1 - left[first]:.0%} of the difference; the next gate, "
        f"{gates[second]}, {1 - left[second]:.0%}): look at gate {gates[first]}'s bias, or "
        f"at what adds to gate {gates[first]}"
    )


def _probe(spec: RNNSpec, step: Step) -> tuple[dict[str, Tensor], tuple[Tensor, ...] | None]:
    """One step of the implementation from seeded random states: the layer-0 input and states
    it started from, and its layer-0 forward results (h1, and c1 for an LSTM)."""
    generator = torch.Generator().manual_seed(spec.seed + 1)
    batch, hidden, lstm = PROBE_BATCH, spec.hidden_size, spec.has_cell_state
    if spec.cell.is_cell:
        one = dataclasses.replace(spec, batch=batch, unbatched=False)
        rows = 1
    else:
        one = dataclasses.replace(spec, batch=batch, seq_len=1, lengths=None, unbatched=False)
        rows = spec.num_layers * spec.num_directions
    x = torch.randn(batch, spec.input_size, generator=generator)
    h = torch.randn(rows, batch, hidden, generator=generator) * 0.5
    c = torch.randn(rows, batch, hidden, generator=generator) * 0.5
    given = {"x": x, "h": h[0], "c": c[0]}
    if spec.cell.is_cell:
        inputs = {"input": x, "h0": h[0]} | ({"c0": c[0]} if lstm else {})
    else:
        sequence = x[:, None] if spec.batch_first else x[None]  # one step
        inputs = {"input": sequence, "h0": h} | ({"c0": c} if lstm else {})
    dtype = next(iter(inputs.values())).dtype
    try:
        with torch.no_grad():
            results = step(one, {k: v.to(dtype) for k, v in inputs.items()})
    except Exception:
        return given, None
    if spec.cell.is_cell:
        names = ("h1", "c1") if lstm else ("h1",)
        found = tuple(results[name].detach().cpu() for name in names)
    else:
        names = ("h_n", "c_n") if lstm else ("h_n",)
        found = tuple(results[name][0].detach().cpu() for name in names)
    if any(value.shape != (batch, hidden) for value in found):
        return given, None
    return given, found
