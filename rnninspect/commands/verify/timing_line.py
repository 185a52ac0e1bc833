"""verify's timing line: the module, the reference and any ``--impl``, forward and
forward+backward, in about the time the parity work took (or bench's careful 0.2 s each), with
what else the machine did meanwhile."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from rnninspect.commands.verify.calls import module_forward
from rnninspect.core import devices
from rnninspect.core.options import FULL_SECONDS_EACH, QUICK_SECONDS, VerifyOptions
from rnninspect.core.runs import Forward, Run, Side, reference_side, run_with_grads
from rnninspect.core.timing import Timing, seconds_of, time_sides
from rnninspect.model.spec import RNNSpec


def timed_run(
    seen: dict[str, float],
    synchronize: Callable[[], None] | None,
    name: str,
    forward: Forward,
    params: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
) -> Run:
    """:func:`run_with_grads`, its seconds kept in ``seen[name]`` (the device synchronised
    around it), so that a quick timing need not run a slow side again."""
    run, seen[name] = seconds_of(
        functools.partial(run_with_grads, forward, params, inputs, upstream), synchronize
    )
    return run


def timings(
    spec: RNNSpec,
    module: nn.Module,
    under_test: nn.Module,
    options: VerifyOptions,
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
    ref_device: torch.device,
    work: float,
    seen: Mapping[str, float],
) -> dict[str, Timing]:
    """Forward, and forward plus backward, of the module, the reference and any ``--impl``:
    ``quick``, all in about the ``work`` seconds the parity runs took (at least
    :data:`QUICK_SECONDS`), a forward+backward that alone outlasts its share being the parity
    run's own (``seen``); ``full``, :data:`FULL_SECONDS_EACH` each, as bench measures."""
    sides: dict[str, Side] = {
        "module": (
            module_forward(module, spec, "module"),
            dict(module.named_parameters()),
            inputs,
        ),
        "reference": reference_side(spec, module, inputs, ref_device),
    }
    if options.impl is not None:
        sides["implementation"] = (
            module_forward(under_test, spec, "implementation"),
            dict(under_test.named_parameters()),
            inputs,
        )
    if options.timing == "full":
        return time_sides(sides, upstream, min_time=FULL_SECONDS_EACH, backward=True)
    each = max(QUICK_SECONDS, work) / (2 * len(sides))
    synchronize = devices.synchronizer(next(iter(inputs.values())).device)
    return time_sides(
        sides, upstream, each, backward=True, quick=True, synchronize=synchronize, already=seen
    )
