"""``rnninspect bench``: how fast torch's module and the reference run, and how that scales.

Both sides run in the module's dtype on the module's device, on the same seeded weights and
input: forward under ``torch.no_grad()``, and with ``backward`` forward plus backward of a random
upstream gradient. Each is timed by ``torch.utils.benchmark`` (warm-up, CUDA synchronisation,
``blocked_autorange``). On CUDA the module is timed again with cuDNN disabled, and its peak
memory is measured; the shape model's estimate is reported on every device.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from rnninspect.core import devices, isolation, load, runtimes
from rnninspect.core.build import (
    example_inputs,
    run_module,
    torch_module,
    torch_warnings,
    upstream_gradients,
)
from rnninspect.core.options import BenchOptions
from rnninspect.core.runs import Forward, Side, run_with_grads, without_grad
from rnninspect.core.runtimes.base import ArtefactRun, RuntimeOptions
from rnninspect.core.threads import torch_threads
from rnninspect.core.timing import RatioRounds, Timing, peak_cuda_bytes, ratio_rounds, time_sides
from rnninspect.model import memory
from rnninspect.model.shapes import flop_count
from rnninspect.model.spec import RNNSpec, SpecError, make_spec
from rnninspect.reference import reference_forward
from rnninspect.reports.bench import BenchReport, SweepPoint
from rnninspect.reports.common import versions

#: What ``--sweep`` may vary.
SWEEPABLE = ("seq_len", "batch", "hidden_size", "num_layers")


def parse_sweep(text: str, spec: RNNSpec) -> tuple[str, list[int]]:
    """``NAME=V1,V2,...`` into a name and at least two distinct values, each valid for the spec."""
    name, sep, values_text = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in SWEEPABLE:
        raise SpecError(
            f"--sweep must be NAME=V1,V2,... with NAME one of {', '.join(SWEEPABLE)}, got {text!r}"
        )
    try:
        values = [int(v) for v in values_text.split(",") if v.strip()]
    except ValueError:
        raise SpecError(f"--sweep {name}: values must be integers, got {values_text!r}") from None
    if len(set(values)) < 2:
        raise SpecError(f"--sweep {name}: give at least two different values, got {values_text!r}")
    if spec.cell.is_cell and name in ("seq_len", "num_layers"):
        raise SpecError(f"--sweep {name}: {spec.cell.torch_name} takes one step of one layer")
    if spec.unbatched and name == "batch":
        raise SpecError("--sweep batch: the input is unbatched")
    for value in values:
        point_spec(spec, name, value)  # validates: a size of 0, proj_size >= hidden_size, ...
    return name, values


def point_spec(spec: RNNSpec, name: str, value: int) -> RNNSpec:
    """The spec with one setting changed, validated as any configuration is."""
    values = {**spec.to_dict(), name: value}
    if spec.cell.is_cell:
        values.pop("seq_len")
    if spec.unbatched:
        values.pop("batch")
    return make_spec(**values)


def bench(spec: RNNSpec, options: BenchOptions | None = None) -> BenchReport:
    """Time torch's module and the reference for one configuration, on ``options.threads``
    torch threads (default: as many as torch uses now)."""
    options = options or BenchOptions()
    with torch_threads(options.threads) as threads:
        device = devices.resolve_device(options.device).type
        how = isolation.plan(device, threads, _bench, (spec, options)) if options.impls else None
        if how is not None:
            # user code: run where ending the process cannot end this one (rnninspect.isolation)
            return isolation.run(
                _bench,
                (spec, options),
                how=how[0],
                threads=how[1],
                timeout=None,
                what="an implementation under test",
                lost="nothing was timed",
            )
        return _bench(spec, options)


def _bench(spec: RNNSpec, options: BenchOptions) -> BenchReport:
    device = devices.resolve_device(options.device)
    dtype = devices.resolve_dtype(options.dtype, device)
    estimate = memory.estimate(spec, options.dtype)
    limit = devices.memory_limit(device, options.max_memory)
    needed = estimate.bench_backward if options.backward else estimate.bench
    whole = device.type == "cpu" and options.max_memory is not None
    memory.check(needed, limit, f"benchmarking nn.{spec.cell.torch_name} with these sizes", whole)

    watch = load.watched(torch.get_num_threads())
    with devices.tf32(options.tf32), torch_warnings() as warned, watch as machine:
        module = torch_module(dataclasses.replace(spec, dropout=0.0), device, dtype)
        if options.weights is not None:
            module.load_state_dict(options.weights, strict=True)
        inputs = example_inputs(spec, device, dtype)
        params = dict(module.named_parameters())
        module_forward: Forward = lambda x: run_module(module, spec, dict(x))  # noqa: E731
        sides: dict[str, Side] = {
            "module": (module_forward, params, inputs),
            "reference": ((lambda x: reference_forward(spec, params, x)), params, inputs),
        }
        sides |= _impl_sides(spec, module, inputs, options.impls, device, dtype)
        upstream = upstream_gradients(spec, device)
        timing = time_sides(sides, upstream, options.min_time, options.backward)
        ratios = _impl_ratios(sides, upstream, options)
        details, failures = _time_runtimes(spec, module, inputs, upstream, options, timing)
        without_cudnn: dict[str, Timing] = {}
        peak: dict[str, int] = {}
        if device.type == "cuda":
            with torch.backends.cudnn.flags(enabled=False):
                without_cudnn = time_sides(
                    {"module": sides["module"]}, upstream, options.min_time, options.backward
                )
            peak["forward"] = peak_cuda_bytes(without_grad(module_forward, inputs), device)
            if options.backward:
                peak["backward"] = peak_cuda_bytes(
                    functools.partial(run_with_grads, module_forward, params, inputs, upstream),
                    device,
                )
    return BenchReport(
        spec=spec,
        versions=versions(torch.__version__),
        device=devices.describe(device),
        dtype=options.dtype,
        threads=torch.get_num_threads(),
        backward=options.backward,
        tf32=options.tf32 if device.type == "cuda" else None,
        timing=timing,
        without_cudnn=without_cudnn,
        flops=flop_count(spec),
        peak_gflops=options.peak_gflops,
        memory=estimate,
        peak_bytes=peak,
        warnings=warned,
        weights_source=options.weights_source,
        runtime_details=details,
        runtime_errors=failures,
        impl_ratios=ratios,
        machine=machine.load,
    )


def _impl_sides(
    spec: RNNSpec,
    module: torch.nn.Module,
    inputs: Mapping[str, Tensor],
    targets: Sequence[str],
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Side]:
    """``--impl``: each implementation built as verify builds it, holding the module's weights,
    as a side named ``impl:<target>``."""
    from rnninspect.core.impl import build, load_factory

    state = {key: value.detach() for key, value in module.state_dict().items()}
    sides: dict[str, Side] = {}
    for target in targets:
        built = build(load_factory(target), spec, state, target).to(device=device, dtype=dtype)
        forward: Forward = functools.partial(_call, built, spec, f"implementation {target}")
        sides[f"impl:{target}"] = (forward, dict(built.named_parameters()), inputs)
    return sides


def _call(module: torch.nn.Module, spec: RNNSpec, what: str, x: Mapping[str, Tensor]) -> Any:
    from rnninspect.commands.verify.calls import call_module

    return call_module(module, spec, x, what)


def _impl_ratios(
    sides: Mapping[str, Side], upstream: Mapping[str, Tensor], options: BenchOptions
) -> dict[str, RatioRounds]:
    """Each implementation's time over the module's, in rounds that alternate the two."""
    found: dict[str, RatioRounds] = {}
    module_forward, module_params, inputs = sides["module"]
    synchronize = devices.synchronizer(next(iter(inputs.values())).device)
    for name, (forward, params, _) in sides.items():
        if not name.startswith("impl:"):
            continue
        found[name] = ratio_rounds(
            without_grad(forward, inputs),
            without_grad(module_forward, inputs),
            options.min_time,
            synchronize=synchronize,
        )
        if options.backward:
            tested = functools.partial(run_with_grads, forward, params, inputs, upstream)
            base = functools.partial(
                run_with_grads, module_forward, module_params, inputs, upstream
            )
            found[f"{name}_backward"] = ratio_rounds(
                tested, base, options.min_time, synchronize=synchronize
            )
    return found


def _time_runtimes(
    spec: RNNSpec,
    module: torch.nn.Module,
    inputs: Mapping[str, Tensor],
    upstream: Mapping[str, Tensor],
    options: BenchOptions,
    timing: dict[str, Timing],
) -> tuple[dict[str, str], dict[str, str]]:
    """``--runtime``: each runtime's artefact timed beside the module, forward (and forward
    plus backward where it has gradients); what ran, and why any runtime could not be timed."""
    settings = RuntimeOptions(exporter=options.exporter, compile_backend=options.compile_backend)
    details: dict[str, str] = {}
    failures: dict[str, str] = {}
    for name in runtimes.parse(options.runtimes):
        if name == "eager":
            continue
        try:
            prepared = runtimes.prepare(name, module, spec, inputs, settings)
        except runtimes.RuntimeFailed as exc:
            failures[name] = str(exc)
            continue
        details[name] = prepared.detail
        run = prepared.run

        def forward(x: Mapping[str, Tensor], run: ArtefactRun = run) -> dict[str, Tensor]:
            return run(x, spec)

        side: dict[str, Side] = {name: (forward, prepared.parameters, inputs)}
        backward = options.backward and prepared.gradients
        try:
            timing.update(time_sides(side, upstream, options.min_time, backward))
        except runtimes.RuntimeFailed as exc:
            failures[name] = str(exc)
    return details, failures


def sweep(
    spec: RNNSpec,
    name: str,
    values: Sequence[int],
    options: BenchOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BenchReport:
    """Benchmark the spec at each value of one setting; the report of the first point carries
    every point and the fitted growth ``time ~ value^k``."""
    points: list[SweepPoint] = []
    for index, value in enumerate(values):
        report = bench(point_spec(spec, name, value), options)
        points.append(SweepPoint(value, report))
        if progress is not None:
            progress(index + 1, len(values))
    first = points[0].report
    warning = unsteady_ratio(points)
    return dataclasses.replace(first, sweep_name=name, sweep=points, sweep_warning=warning)


def unsteady_ratio(points: Sequence[SweepPoint]) -> str | None:
    """A warning when the reference/module ratio moves back and forth across the sweep by more
    than the spread within each measurement explains: the load on the machine changed between
    rounds, and the fitted growth cannot be trusted.

    A real trend in the ratio is monotonic in the swept value; a reversal larger than the
    measured spread of the two timings at both points (their IQR over their median) is noise
    that the IQRs did not catch.
    """
    ratios = [p.report.ratio for p in points]
    spreads = []
    for p in points:
        sides = [p.report.timing[side].relative_spread for side in ("module", "reference")]
        spreads.append(sum(spread or 0.0 for spread in sides))
    changes = [b / a - 1 for a, b in itertools.pairwise(ratios)]
    for i in range(1, len(changes)):
        before, after = changes[i - 1], changes[i]
        allowed = spreads[i - 1] + spreads[i] + spreads[i + 1]
        if before * after < 0 and min(abs(before), abs(after)) > allowed:
            low, high = min(ratios), max(ratios)
            return (
                f"the reference/module ratio goes up and down across the sweep ({low:.2f}× to "
                f"{high:.2f}×), more than the spread within each timing (IQR up to "
                f"{100 * max(spreads):.0f}% of the medians) explains: the machine's load changed "
                "between rounds; rerun with a longer --min-time on a quieter machine"
            )
    return None
