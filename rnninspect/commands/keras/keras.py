"""``rnninspect keras``: the Keras layers that compute what a torch module computes, where every
weight goes, and (``--check``) both run on the same weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from rnninspect.core.build import example_inputs, torch_module, torch_warnings
from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec
from rnninspect.reports.common import versions
from rnninspect.reports.keras import KerasReport


def keras_layers(spec: RNNSpec, check: bool = False, reset_after: bool = True) -> KerasReport:
    """The Keras layers that compute ``spec``'s module and where every weight goes; with
    ``check``, both run on the same weights and input, Keras's results judged against the
    float64 reference row by row. ``reset_after=False`` maps a GRU to Keras's variant of that
    name, which no torch module computes: it is judged against the reference's variant."""
    from rnninspect.commands.keras import mapping
    from rnninspect.core.runs import reference_side

    report = KerasReport(
        spec,
        versions(torch.__version__),
        mapping.layer_code(spec, reset_after),
        mapping.mapping(spec, reset_after),
        mapping.notes(spec, reset_after),
        mapping.limits(spec),
        reset_after=reset_after if spec.cell.family == "gru" else None,
    )
    if not check:
        return report
    if report.limits:  # the same answer as without --check: there is nothing to run
        return dataclasses.replace(report, check_not_run="no Keras layer computes this module")
    memory.check(memory.estimate(spec).verify, memory.default_limit(), "keras --check")
    library = mapping.import_keras()
    cpu = torch.device("cpu")
    with torch_warnings(), torch.no_grad():
        module = torch_module(spec)
        inputs = example_inputs(spec)
        layers = mapping.build_layers(library, spec, module.state_dict(), reset_after)
        found = mapping.run_layers(spec, layers, inputs)
        reference, _, wide = reference_side(spec, module, inputs, cpu, reset_after=reset_after)
        expected = reference(wide)
    rows = judged_rows(found, expected, torch.float32)
    return dataclasses.replace(report, rows=rows, keras_version=library.__version__)


def judged_rows(
    found: Mapping[str, Tensor], expected: Mapping[str, Tensor], dtype: torch.dtype
) -> list[Any]:
    """Keras's results judged row by row against ``expected``, at ``dtype``'s tolerance (no
    noise floor: the rows are pass or fail)."""
    from rnninspect.core.parity import compare_rows, default_tolerance, judge

    tolerance = default_tolerance(dtype)
    compared = compare_rows(found, expected, tolerance, dtype)
    return [judge(name, c, tolerance) for name, c in compared.items()]
