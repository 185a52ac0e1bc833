"""``rnninspect shapes``: the real module built and run once, every shape torch produced set beside
the shape model's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch

from rnninspect.core.build import example_inputs, run_module, torch_module, torch_warnings
from rnninspect.model import memory
from rnninspect.model.shapes import layer_steps, parameter_shapes, tensor_shapes
from rnninspect.model.spec import RNNSpec, SpecError
from rnninspect.reports.common import versions
from rnninspect.reports.shapes import Measured, ShapesReport

#: The most layer-steps shapes runs on the meta device, where each takes 2-7 ms (packed input).
MAX_META_STEPS = 100_000

#: The most layer-steps of a meta forward run at the length asked for; beyond, torch's meta
#: forward runs at :data:`SHORT_LENGTHS` and the shape model gives the rest.
FULL_META_STEPS = 256

#: The two sequence lengths a long meta run is checked at: two points fix a shape's dependence
#: on L, which the shape model gives for any other.
SHORT_LENGTHS = (2, 3)

#: The largest forward pass shapes runs on the CPU rather than the meta device.
SMALL_RUN = 64 * 2**20


def inspect_shapes(spec: RNNSpec, max_memory: int | None = None) -> ShapesReport:
    """Build the real module and run one forward pass, and set every shape torch produced
    beside the shape model's.

    A small configuration (its forward under :data:`SMALL_RUN` and the memory limit) runs on
    the CPU, which takes milliseconds; any other runs on torch's meta device, which computes
    every shape and no number, so nothing is allocated and no size is refused for memory. The
    meta forward still steps through time (and its first call imports torch's decompositions,
    about a second), so its layer-steps are capped at :data:`MAX_META_STEPS`. The memory
    estimate is reported against ``max_memory`` (default: 80% of what this process may use),
    the limit the commands that compute refuse at.
    """
    estimate = memory.estimate(spec)
    limit = memory.default_limit() if max_memory is None else max_memory
    device = "cpu" if estimate.shapes <= min(SMALL_RUN, limit) else "meta"
    steps = layer_steps(spec)
    if device == "meta" and steps > FULL_META_STEPS and spec.lengths is None:
        return _shapes_at_short_lengths(spec, estimate, limit)
    if device == "meta" and steps > MAX_META_STEPS:
        raise SpecError(
            f"shapes runs torch's forward on the meta device one step at a time (about 2 ms a "
            f"step): seq_len x num_layers x directions = {steps:,} steps is over "
            f"{MAX_META_STEPS:,}; a shorter --seq-len gives the same shapes but L"
        )

    module, shapes, warned = _forward_shapes(spec, device)
    tensors = _measured_tensors(spec, shapes)
    return _shapes_report(spec, module, tensors, estimate, limit, warned, device)


def _forward_shapes(
    spec: RNNSpec, device: str
) -> tuple[torch.nn.Module, dict[str, tuple[int, ...]], list[str]]:
    """The real module, the shape of every tensor of one forward pass, and torch's warnings."""
    with torch_warnings() as warned, torch.no_grad():
        module = torch_module(spec, device=device)
        inputs = example_inputs(spec, device=device)
        produced = {**inputs, **run_module(module, spec, inputs, keep_packed=True)}
    # oneDNN's note on projections is about speed, which shapes does not measure
    warned = [message for message in warned if "oneDNN" not in message]
    return module, {name: tuple(value.shape) for name, value in produced.items()}, warned


def _measured_tensors(spec: RNNSpec, shapes: Mapping[str, tuple[int, ...]]) -> list[Measured]:
    predicted_tensors = {t.name: t for t in tensor_shapes(spec)}
    tensors = [
        Measured(predicted, name, shapes.get(name)) for name, predicted in predicted_tensors.items()
    ]
    tensors += [
        Measured(None, name, shape)
        for name, shape in shapes.items()
        if name not in predicted_tensors
    ]
    return tensors


def _shapes_at_short_lengths(
    spec: RNNSpec, estimate: memory.MemoryEstimate, limit: int
) -> ShapesReport:
    """A long sequence on the meta device, whose forward steps through time in Python (1,000
    steps of a wide LSTM took 6.8 s): torch's meta forward at :data:`SHORT_LENGTHS`, each shape
    set beside the shape model's there; where both agree at both, the tensors at the length
    asked for are the shape model's, and the report says so (``checked_at``)."""
    for length in SHORT_LENGTHS:
        short = dataclasses.replace(spec, seq_len=length)
        module, shapes, warned = _forward_shapes(short, "meta")
        tensors = _measured_tensors(short, shapes)
        if not all(row.agrees for row in tensors):  # the model is wrong: show torch's own
            return _shapes_report(short, module, tensors, estimate, limit, warned, "meta")
    modelled = [Measured(t, t.name, t.shape) for t in tensor_shapes(spec)]
    report = _shapes_report(spec, module, modelled, estimate, limit, warned, "meta")
    return dataclasses.replace(report, checked_at=SHORT_LENGTHS)


def _shapes_report(
    spec: RNNSpec,
    module: torch.nn.Module,
    tensors: list[Measured],
    estimate: memory.MemoryEstimate,
    limit: int,
    warned: list[str],
    device: str,
) -> ShapesReport:
    predicted_params = {p.name: p for p in parameter_shapes(spec)}
    actual_params = {name: tuple(p.shape) for name, p in module.named_parameters()}
    parameters = [
        Measured(predicted_params.get(name), name, shape) for name, shape in actual_params.items()
    ]
    parameters += [
        Measured(predicted, name, None)
        for name, predicted in predicted_params.items()
        if name not in actual_params
    ]
    return ShapesReport(
        spec=spec,
        versions=versions(torch.__version__),
        tensors=tensors,
        parameters=parameters,
        memory=estimate,
        memory_limit=limit,
        warnings=warned,
        computed_on=device,
    )
