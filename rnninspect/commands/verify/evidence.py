"""What each parity row's verdict rests on beside its error: its noise floor, the step check's
word, and whether its values can exist in the dtype (:func:`evidence`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from rnninspect.commands.verify.noise import EXTRA_RUNS
from rnninspect.core.parity import RANGE_MARGIN, Comparison, Evidence, distance
from rnninspect.core.runs import Run
from rnninspect.model.spec import RNNSpec
from rnninspect.reports.verify import StepParity


def evidence(
    spec: RNNSpec,
    comparisons: Mapping[str, Comparison],
    exact: Run,
    same: Run,
    judged_against: Run,
    steps: StepParity | None,
    dtype: torch.dtype,
    more_floors: Callable[[], Mapping[str, float | None]],
) -> dict[str, Evidence]:
    """What each row's verdict rests on beside its error: its noise floor (``same`` against
    ``exact``), the step check's word, and whether its values can exist in ``dtype``. Where a
    row's error lies beyond 10 noise floors although every step agrees, ``more_floors`` draws
    the floor again (:func:`~rnninspect.noise.perturbed_floors`) and the largest counts."""
    largest = torch.finfo(dtype).max * RANGE_MARGIN
    no_step_in_range = steps is not None and steps.steps == 0 and steps.out_of_range > 0
    evidence_of: dict[str, Evidence] = {}
    for name, comparison in comparisons.items():
        gradient = name.startswith("grad:")
        expected = judged_against.rows().get(name)
        evidence = Evidence(
            floor=distance(same.rows().get(name), exact.rows().get(name)),
            kinked=gradient and spec.relu,
            packed=spec.lengths is not None,
            no_step_in_range=no_step_in_range,
            expected_out_of_range=comparison.exploded
            and expected is not None
            and bool((expected.abs() > largest).any()),
        )
        if steps is not None and steps.steps > 0:  # some step could be taken in the dtype
            evidence = dataclasses.replace(
                evidence,
                steps_agree=steps.forward_ok and (not gradient or steps.backward_ok),
                noise_ratio=steps.noise_ratio(gradient),
            )
        evidence_of[name] = evidence
    redraw = [name for name, c in comparisons.items() if evidence_of[name].beyond_noise(c)]
    if redraw and dtype != torch.float64:
        floors = more_floors()
        for name in redraw:
            e, more = evidence_of[name], floors.get(name)
            if e.floor is not None and more is not None:
                floor = max(e.floor, more)
                evidence_of[name] = dataclasses.replace(e, floor=floor, floor_runs=1 + EXTRA_RUNS)
    return evidence_of
