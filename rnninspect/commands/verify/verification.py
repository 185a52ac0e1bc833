"""``rnninspect verify``: the implementation under test against the manual reference.

The implementation under test is torch's module, or with ``--impl`` the user's, holding the
module's weights. Both it and the reference run on the same input and initial state; their
outputs, final states and gradients (from the same random upstream gradient) are compared,
row by row. The reference runs in float64 by default, so the error shown is the
implementation's own; it also runs in the implementation's dtype to measure the noise floor.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnninspect.base.signals import TimeLimitExceeded, time_limit
from rnninspect.base.text import exception_line
from rnninspect.commands.verify.calls import call_module, module_forward
from rnninspect.commands.verify.evidence import evidence
from rnninspect.commands.verify.findings import finding, gate_notes
from rnninspect.commands.verify.noise import perturbed_floors
from rnninspect.commands.verify.runtime_checks import check_runtime
from rnninspect.commands.verify.steps import cell_parity, step_parity
from rnninspect.commands.verify.timing_line import timed_run, timings
from rnninspect.core import devices, isolation, load, runtimes
from rnninspect.core.build import (
    example_inputs,
    torch_module,
    torch_warnings,
    upstream_gradients,
)
from rnninspect.core.impl import Factory, build, load_factory
from rnninspect.core.load import MachineLoad
from rnninspect.core.options import VerifyOptions
from rnninspect.core.parity import (
    Comparison,
    ParityRow,
    Tolerance,
    compare,
    compare_rows,
    default_tolerance,
    given_tolerance,
    judge,
)
from rnninspect.core.runs import (
    ImplementationFailed,
    Run,
    reference_side,
    run_with_grads,
)
from rnninspect.core.runtimes.base import Prepared
from rnninspect.core.threads import auto_threads, torch_threads
from rnninspect.core.timing import Timing
from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec, SpecError
from rnninspect.reports.common import versions
from rnninspect.reports.verify import RuntimeResult, StepParity, VerifyReport


def _tolerance(options: VerifyOptions, dtype: torch.dtype, device: torch.device) -> Tolerance:
    """The dtype's default, with ``--atol``/``--rtol`` replacing whichever was given."""
    base = default_tolerance(dtype, tf32=options.tf32 and device.type == "cuda", device=device.type)
    return given_tolerance(base, options.atol, options.rtol)


def verify(spec: RNNSpec, options: VerifyOptions | None = None) -> VerifyReport:
    """Verify torch's module (or ``options.impl``) against the reference for one spec, on
    ``options.threads`` CPU threads (by default as :mod:`rnninspect.core.threads` chooses).

    With ``options.timeout``, a run that takes longer fails (:class:`ImplementationFailed`,
    "timed out after S s"): an implementation that never returns cannot hang CI. An
    ``options.impl`` runs in a child process (:mod:`rnninspect.core.isolation`), so that one that
    ends the process is a failed check that says how, never a silent exit.
    """
    options = options or VerifyOptions()
    device = devices.resolve_device(options.device).type
    threads = options.threads
    if threads is None:
        available = torch.get_num_threads()
        threads = auto_threads(spec, available) if device == "cpu" else available
    with torch_threads(threads):
        how = (
            None
            if options.impl is None
            else isolation.plan(device, threads, _verify, (spec, options))
        )
        if how is not None:
            report = isolation.run(
                _verify,
                (spec, options),
                how=how[0],
                threads=how[1],
                timeout=options.timeout,
                what="the implementation under test",
            )
            return dataclasses.replace(report, threads=how[1])
        try:
            with time_limit(options.timeout):
                return dataclasses.replace(_verify(spec, options), threads=threads)
        except TimeLimitExceeded as exc:
            raise ImplementationFailed(str(exc)) from None


def _verify(spec: RNNSpec, options: VerifyOptions) -> VerifyReport:
    """One verification, phase by phase: what is under test and where, the memory pre-flight,
    the notes, the runs, the parity rows (with the step check where a row is out of tolerance),
    the runtimes, the timing."""
    run = _setup(spec, options)
    notes = _notes(spec, options, run)
    with devices.tf32(options.tf32), torch_warnings() as warned:
        _build(spec, options, run)
        started = time.perf_counter()  # the parity work, which a quick timing costs no more than
        runs = _parity_runs(spec, options, run)
        comparisons = compare_rows(
            runs.tested.rows(),
            runs.judged_against.rows(),
            run.tolerance,
            run.dtype,
            runs.tested.misshapen,
            run.device,
        )
        steps = None
        if not all(c.within() for c in comparisons.values()):
            steps = _step_check(spec, run, notes)
        rows = _rows(spec, run, runs, comparisons, steps)
        failing = {row.tensor for row in rows if row.verdict == "fail"}
        step = lambda one, x: call_module(run.under_test, one, x, run.what)  # noqa: E731
        notes += gate_notes(spec, failing, step, run.state_dict)
        checked = _runtimes(
            spec, run.under_test, options, run.tolerance, run.device, run.dtype, run.ref_device
        )
        timing, machine = _timing_line(spec, options, run, runs, time.perf_counter() - started)
    return VerifyReport(
        spec=spec,
        versions=versions(torch.__version__),
        device=devices.describe(run.device),
        dtype=options.dtype,
        reference_dtype=options.reference_dtype,
        tf32=options.tf32 if run.device.type == "cuda" else None,
        tolerance=run.tolerance,
        rows=rows,
        steps=steps,
        timing=timing,
        timing_mode=str(options.timing),
        notes=notes,
        warnings=warned,
        impl=run.label,
        weight_scale=options.weight_scale,
        zero_state=options.zero_state,
        weights_source=options.weights_source,
        runtimes=checked,
        machine=machine,
    )


@dataclass
class _Run:
    """What one verification works with: where, in what dtype, against which tolerance, and
    (once built) the module, the implementation under test, their weights and inputs."""

    device: torch.device
    dtype: torch.dtype
    ref_device: torch.device
    tolerance: Tolerance
    factory: Factory
    label: str | None
    module: nn.Module = field(init=False)
    under_test: nn.Module = field(init=False)
    state_dict: dict[str, Tensor] = field(init=False)
    inputs: dict[str, Tensor] = field(init=False)
    upstream: dict[str, Tensor] = field(init=False)

    @property
    def what(self) -> str:
        return "module" if self.label is None else "implementation"


@dataclass
class _ParityRuns:
    """The forward and backward runs the rows compare: the implementation under test, torch's
    module beside an ``--impl`` (``baseline``), the float64 reference (``exact``), the reference
    in the module's dtype (``same``, the noise floor), and the one the rows are judged against;
    ``seen`` the seconds each timed run took."""

    tested: Run
    baseline: Run | None
    exact: Run
    same: Run
    judged_against: Run
    seen: dict[str, float]


def _setup(spec: RNNSpec, options: VerifyOptions) -> _Run:
    """Where and what: the device, dtype and tolerance, the implementation under test (torch's
    class or ``--impl``), and the memory pre-flight, before anything is built."""
    device = devices.resolve_device(options.device)
    dtype = devices.resolve_dtype(options.dtype, device)
    factory: Factory = getattr(nn, spec.cell.torch_name)
    label = None
    if isinstance(options.impl, str):
        factory, label = load_factory(options.impl), options.impl
    elif options.impl is not None:
        factory = options.impl
        label = getattr(factory, "__qualname__", None) or repr(factory)
    counted = memory.estimate(spec, options.dtype)
    needed = counted.verify + (counted.implementation if options.impl is not None else 0)
    limit = devices.memory_limit(device, options.max_memory)
    whole = device.type == "cpu" and options.max_memory is not None
    memory.check(needed, limit, f"verifying nn.{spec.cell.torch_name} with these sizes", whole)
    tolerance = _tolerance(options, dtype, device)
    return _Run(device, dtype, devices.reference_device(device), tolerance, factory, label)


def _notes(spec: RNNSpec, options: VerifyOptions, run: _Run) -> list[str]:
    """What the report must say about how this run differs from the user's use of the module."""
    notes: list[str] = []
    if spec.dropout > 0:
        notes.append(
            f"dropout={spec.dropout} was not exercised: verification runs without dropout "
            "(as in eval mode)"
        )
    if options.weights_source is not None:
        notes.append(f"trained weights from {options.weights_source}")
    if options.onnx is not None and options.weights is None:
        notes.append(
            "--onnx without --weights: the reference runs rnninspect's seeded weights, not the "
            "file's; give the weights the file was exported from with --weights"
        )
    if options.tf32 and run.device.type == "cuda" and run.dtype == torch.float32:
        atol, rtol = run.tolerance.atol, run.tolerance.rtol
        notes.append(f"TF32 allowed: tolerances widened to atol={atol:g}, rtol={rtol:g}")
    return notes


def _build(spec: RNNSpec, options: VerifyOptions, run: _Run) -> None:
    """torch's module (seeded, or holding ``--weights``), the implementation under test holding
    its weights, the inputs and the upstream gradient.

    Dropout is never exercised: torch's module is built with dropout 0 (same weights, as the
    constructor draws no random numbers for it) and kept in training mode, because cuDNN
    differentiates RNNs only in training mode; an ``--impl`` given dropout > 0 runs in eval
    mode instead."""
    without_dropout = dataclasses.replace(spec, dropout=0.0)
    run.module = torch_module(
        without_dropout, run.device, run.dtype, weight_scale=options.weight_scale
    )
    if options.weights is not None:
        run.module.load_state_dict(options.weights, strict=True)
    run.state_dict = {k: v.detach() for k, v in run.module.state_dict().items()}
    run.under_test = run.module
    if options.impl is not None:
        built = build(run.factory, spec, run.state_dict, str(run.label))
        run.under_test = built.to(device=run.device, dtype=run.dtype).train(spec.dropout == 0)
    run.inputs = example_inputs(spec, run.device, run.dtype, zero_state=options.zero_state)
    run.upstream = upstream_gradients(spec, run.device)


def _parity_runs(spec: RNNSpec, options: VerifyOptions, run: _Run) -> _ParityRuns:
    """Every forward and backward the rows compare (:class:`_ParityRuns`), the slow ones timed."""
    seen: dict[str, float] = {}  # seconds of each timed side's forward+backward below
    timed = functools.partial(timed_run, seen, devices.synchronizer(run.device))
    tested = timed(
        f"{run.what}_backward",
        module_forward(run.under_test, spec, run.what),
        dict(run.under_test.named_parameters()),
        run.inputs,
        run.upstream,
    )
    baseline = None
    if options.impl is not None:
        baseline = timed(
            "module_backward",
            module_forward(run.module, spec, "torch module"),
            dict(run.module.named_parameters()),
            run.inputs,
            run.upstream,
        )
    reference = reference_side(spec, run.module, run.inputs, run.ref_device)
    exact = timed("reference_backward", *reference, run.upstream)
    same = exact  # a float64 module's noise floor is 0: its dtype is the reference's
    if run.dtype != torch.float64:
        in_dtype = reference_side(spec, run.module, run.inputs, run.ref_device, run.dtype)
        same = run_with_grads(*in_dtype, run.upstream)
    judged_against = exact if options.reference_dtype == "float64" else same
    return _ParityRuns(tested, baseline, exact, same, judged_against, seen)


def _step_check(spec: RNNSpec, run: _Run, notes: list[str]) -> StepParity | None:
    """Every single step checked from the float64 reference's states (a Cell: its one step),
    where a row is out of tolerance; what could not be checked goes in ``notes``."""
    steps: StepParity | None = None
    try:
        if spec.cell.is_cell:
            steps = cell_parity(
                spec,
                module_forward(run.under_test, spec, run.what),
                dict(run.under_test.named_parameters()),
                run.state_dict,
                run.inputs,
                run.upstream,
                run.tolerance,
            )
        else:
            steps = step_parity(
                spec,
                run.under_test,
                lambda m, one, i: call_module(m, one, i, run.what),
                run.state_dict,
                run.inputs,
                run.tolerance,
            )
    except Exception as exc:
        notes.append(
            f"step-wise parity could not run ({exception_line(exc)}), so no row can be inconclusive"
        )
    if steps is not None and steps.packed:
        notes.append(
            "step-wise parity fed the packed sequences one step at a time (packed, length 1): "
            "it cannot see how the implementation handles sequences that end at different "
            "steps; the whole-sequence rows do"
        )
    return steps


def _rows(
    spec: RNNSpec,
    run: _Run,
    runs: _ParityRuns,
    comparisons: Mapping[str, Comparison],
    steps: StepParity | None,
) -> list[ParityRow]:
    """Each compared tensor judged on its evidence, torch's own error beside an ``--impl``'s,
    and a failing row's errors described as a whole (:mod:`findings`)."""
    evidence_of = evidence(
        spec,
        comparisons,
        runs.exact,
        runs.same,
        runs.judged_against,
        steps,
        run.dtype,
        lambda: perturbed_floors(
            spec, run.module, run.inputs, run.upstream, run.ref_device, run.dtype, runs.exact
        ),
    )
    expected = runs.judged_against.rows()
    rows = []
    for name, comparison in comparisons.items():
        base = None
        if runs.baseline is not None:
            base = compare(runs.baseline.rows().get(name), expected.get(name), run.tolerance)
        row = judge(name, comparison, run.tolerance, evidence_of[name], base)
        if row.verdict == "fail":
            found = runs.tested.rows().get(name)
            described = finding(spec, name, found, expected.get(name), run.tolerance)
            row = dataclasses.replace(row, finding=described)
        rows.append(row)
    return rows


def _timing_line(
    spec: RNNSpec, options: VerifyOptions, run: _Run, runs: _ParityRuns, work: float
) -> tuple[dict[str, Timing], MachineLoad | None]:
    """The timing line's timings (none with ``--timing off``) and what else the machine did."""
    if options.timing == "off":
        return {}, None
    with load.watched(torch.get_num_threads()) as watch:
        timing = timings(
            spec,
            run.module,
            run.under_test,
            options,
            run.inputs,
            run.upstream,
            run.ref_device,
            work,
            runs.seen,
        )
    return timing, watch.load


def _runtimes(
    spec: RNNSpec,
    module: nn.Module,
    options: VerifyOptions,
    tolerance: Tolerance,
    device: torch.device,
    dtype: torch.dtype,
    ref_device: torch.device,
) -> list[RuntimeResult]:
    """Every runtime but eager (whose rows are the parity rows), at every shape it runs."""
    others = [name for name in runtimes.parse(options.runtimes) if name != "eager"]
    settings = options.runtime_options
    results: list[RuntimeResult] = []
    for name in others:
        results += check_runtime(
            name, module, spec, settings, tolerance, device, dtype, ref_device, options.zero_state
        )
    if options.onnx is not None:
        given = _onnx_file(options.onnx, spec, device)
        results += check_runtime(
            "onnx file",
            module,
            spec,
            settings,
            tolerance,
            device,
            dtype,
            ref_device,
            options.zero_state,
            given,
        )
    return results


def _onnx_file(path: str, spec: RNNSpec, device: torch.device) -> Prepared:
    """``--onnx FILE``: the user's own ONNX file, ready to run."""
    from rnninspect.core.runtimes import onnx

    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SpecError(f"--onnx {path}: cannot read it: {exc.strerror}") from None
    try:
        return onnx.load(path, spec, device, path)
    except runtimes.RuntimeFailed as exc:
        raise SpecError(f"--onnx {path}: {exc}") from None
