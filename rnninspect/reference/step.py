"""The reference's side of one time step, for the step checks in ``steps.py``: every layer and
direction of a stack (or a Cell) taking one step from given states, on the relu branches an
implementation took, and where relu's kink lies for a dtype.

At a kink of relu both one-sided derivatives are right, and a kernel in a narrow dtype may round
a pre-activation near 0 to either side: in its forward pass, or again when its backward pass
recomputes it. So the reference takes each step on the implementation's own branches, and
:func:`kink_free_upstream` keeps the step's upstream gradient from reaching pre-activations at
the kink, where the branch a kernel's backward takes cannot be seen.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from rnninspect.model.spec import RNNSpec
from rnninspect.reference.cells import rnn_preactivation
from rnninspect.reference.recurrence import DirectionWeights, direction_suffixes, step

#: A relu pre-activation within this many machine epsilons of the sum of its terms' magnitudes
#: (``sum |x_i w_i| + |b_ih| + sum |h_j u_j| + |b_hh|``) counts as at the kink. A kernel whose
#: inputs to the step were rounded to its dtype (half an epsilon each, relative), and which
#: rounds the two products and their sum, lands within about 2 epsilons of that sum from the
#: exact value, in its forward pass and again when its backward recomputes it.
KINK_ROUNDING = 2.0


def kink_free_upstream(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    dtype: torch.dtype,
    upstream: Tensor,
) -> Tensor:
    """The step's upstream gradient on ``h_n`` (a Cell's ``h1``), changed so that no gradient
    reaches a relu pre-activation at the kink for ``dtype``: ``|pre| <= KINK_ROUNDING * eps *
    (|x| |W_ih|^T + |b_ih| + |h| |W_hh|^T + |b_hh|)``, from the float64 ``params``.

    A correct kernel in ``dtype`` may round such a pre-activation to either side of 0, in its
    forward pass or when its backward recomputes it, and so take either one-sided derivative;
    with no gradient arriving there, the step check does not depend on which. For the top
    layer (and a Cell) that is a zero upstream there; a lower layer's output also receives
    gradient through the layers above, so its upstream there is set, top layer first, to minus
    what arrives from above, taken on the reference's own branches.
    """
    exact = {name: value.detach().to("cpu", torch.float64) for name, value in inputs.items()}
    # a copy that requires grad, so that every layer's output is in the graph
    exact["input"] = exact["input"].clone().requires_grad_(True)
    terms: list[tuple[Tensor, Tensor, Tensor]] = []  # (magnitude, pre, h) in h_n's rows
    with torch.enable_grad():
        if spec.cell.is_cell:
            results = cell_on_branch(spec, params, exact, None, terms)
        else:
            results = one_step(spec, params, exact, None, terms)
    eps = torch.finfo(dtype).eps
    at_kink = [pre.abs() <= KINK_ROUNDING * eps * magnitude for magnitude, pre, _ in terms]
    name = "h1" if spec.cell.is_cell else "h_n"
    rows = list(upstream.detach().to("cpu", torch.float64).reshape(len(terms), -1))
    directions = 1 if spec.cell.is_cell else spec.num_directions
    for layer in reversed(range(len(terms) // directions)):
        mine = range(layer * directions, (layer + 1) * directions)
        loss = (results[name].reshape(len(terms), -1) * torch.stack(rows)).sum()
        arriving = torch.autograd.grad(loss, [terms[r][2] for r in mine], retain_graph=True)
        for r, total in zip(mine, arriving, strict=True):
            rows[r] = torch.where(at_kink[r].flatten(), rows[r] - total.flatten(), rows[r])
    return torch.stack(rows).reshape(upstream.shape).to(upstream.device)


def cell_on_branch(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    branch: Tensor | None,
    terms: list[tuple[Tensor, Tensor, Tensor]] | None = None,
) -> dict[str, Tensor]:
    """The reference's relu RNNCell, taking relu's positive branch exactly where ``branch``
    (shaped as h1) is true: ``h1 = pre`` there, 0 elsewhere. ``terms`` receives the sum of the
    pre-activation's terms' magnitudes (:func:`_magnitude`), the pre-activation and h1."""
    weights = DirectionWeights.of(params, "")
    x, h0 = inputs["input"], inputs["h0"]  # (N, H_in), (N, H); or unbatched, without N
    return {"h1": _relu_step(weights, x, h0, branch, terms)}


def _relu_step(
    weights: DirectionWeights,
    x: Tensor,
    h: Tensor,
    branch: Tensor | None,
    terms: list[tuple[Tensor, Tensor, Tensor]] | None,
) -> Tensor:
    """One relu RNN step from input ``x`` and state ``h``: the pre-activation where ``branch``
    is true (where it is positive when ``branch`` is None), 0 elsewhere. ``terms`` receives
    its :func:`_magnitude`, the pre-activation and the result."""
    pre = rnn_preactivation(weights.project_input(x), h, weights.w_hh, weights.b_hh)
    on = pre > 0 if branch is None else branch
    out = torch.where(on, pre, torch.zeros_like(pre))
    if terms is not None:
        terms.append((_magnitude(weights, x, h), pre, out))
    return out


def _magnitude(weights: DirectionWeights, x: Tensor, h: Tensor) -> Tensor:
    """``|x| |W_ih|^T + |b_ih| + |h| |W_hh|^T + |b_hh|``: the sum of the magnitudes of a relu
    RNN pre-activation's terms, which bounds its rounding error in any order of summation."""
    total = x.abs() @ weights.w_ih.abs().T + h.abs() @ weights.w_hh.abs().T
    for bias in (weights.b_ih, weights.b_hh):
        if bias is not None:
            total = total + bias.abs()
    return total


def one_step(
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    branch: Tensor | None = None,
    terms: list[tuple[Tensor, Tensor, Tensor]] | None = None,
) -> dict[str, Tensor]:
    """The reference's stack over a one-step input: every layer and direction takes one step.

    ``inputs`` are laid out as for the module (see :func:`_layout`); ``branch`` (shaped as
    h_n), for a relu RNN, is where the implementation's step came out positive: the
    reference's step takes the same branch of relu there. ``terms``, for a relu RNN, receives
    each layer and direction's :func:`_magnitude`, pre-activation and h, in h_n's row order.
    """
    x, h0, c0 = inputs["input"], inputs["h0"], inputs.get("c0")
    if spec.unbatched:
        x, h0 = x, h0.unsqueeze(1)  # (1, H_in) as a batch of one; (D*layers, 1, H_out)
        c0 = None if c0 is None else c0.unsqueeze(1)
        branch = None if branch is None else branch.unsqueeze(1)
    else:
        x = x[:, 0] if spec.batch_first else x[0]  # (N, H_in)
    layer_input = x
    h_n: list[Tensor] = []
    c_n: list[Tensor] = []
    for layer in range(spec.num_layers):
        outputs = []
        for direction, suffix in enumerate(direction_suffixes(spec, layer)):
            index = layer * spec.num_directions + direction
            weights = DirectionWeights.of(params, suffix)
            c = None if c0 is None else c0[index]
            if spec.relu:
                on = None if branch is None else branch[index]
                h = _relu_step(weights, layer_input, h0[index], on, terms)  # (N, H)
            else:
                gi = weights.project_input(layer_input)  # (N, G*H_cell)
                h, c = step(spec, weights, gi, h0[index], c)  # (N, H_out), (N, H_cell)
            outputs.append(h)
            h_n.append(h)
            if c is not None:
                c_n.append(c)
        layer_input = torch.cat(outputs, dim=-1)  # (N, D*H_out)
    final_h = torch.stack(h_n)  # (D*num_layers, N, H_out)
    final_c = torch.stack(c_n) if c_n else None  # (D*num_layers, N, H_cell)
    if spec.unbatched:
        final_h = final_h.squeeze(1)
        final_c = None if final_c is None else final_c.squeeze(1)
    return {"h_n": final_h} if final_c is None else {"h_n": final_h, "c_n": final_c}
