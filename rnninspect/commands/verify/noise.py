"""More draws of the noise floor, for the rows that need them.

A row's noise floor is how far the reference run in the module's dtype lands from the float64
reference: one draw. In a chaotic recurrence (large weights, half precision, many steps) that
distance varies from one correct run to another by far more than the factor verify allows
(measured on the CPU: a float16 LSTM's bias gradient 0.7 from float64 in the unperturbed run,
10 to 23 in runs from inputs perturbed within rounding, and torch's module at 10.4). So where a
row's error lies beyond 10 noise floors although every single step agrees, the reference is
run :data:`EXTRA_RUNS` more times in the module's dtype, each from the input multiplied by
``1 + eps/2 * N(0, 1)`` (a change within the input's own rounding), and the row's floor is the
largest distance of all the runs. A fault in the time loop of a recurrence that does not
amplify rounding still lies far beyond them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from rnninspect.core.parity import distance
from rnninspect.core.runs import Run, reference_side, run_with_grads
from rnninspect.model.spec import RNNSpec

#: Reference runs from perturbed inputs, beside the first, when a row needs them.
EXTRA_RUNS = 3


def perturbed_floors(
    spec: RNNSpec,
    module: nn.Module,
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
    device: torch.device,
    dtype: torch.dtype,
    exact: Run,
) -> dict[str, float | None]:
    """For every row of ``exact``, the largest distance from it of :data:`EXTRA_RUNS` reference
    runs in ``dtype``, each from the input perturbed within its rounding (seeded by the
    configuration's seed)."""
    eps = torch.finfo(dtype).eps
    floors: dict[str, float | None] = {name: None for name in exact.rows()}
    for k in range(EXTRA_RUNS):
        generator = torch.Generator().manual_seed(spec.seed + 101 + k)
        x = inputs["input"]
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        shaken = (x.detach().cpu().double() * (1 + eps / 2 * noise)).to(x.device, x.dtype)
        run = run_with_grads(
            *reference_side(spec, module, {**inputs, "input": shaken}, device, dtype), upstream
        )
        for name, expected in exact.rows().items():
            found = distance(run.rows().get(name), expected)
            if found is not None:
                floors[name] = max(found, floors[name] or 0.0)
    return floors
