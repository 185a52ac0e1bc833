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
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from rnninspect.base.signals import TimeLimitExceeded, time_limit
from rnninspect.base.text import exception_line
from rnninspect.commands.verify.findings import finding, gate_notes
from rnninspect.commands.verify.noise import EXTRA_RUNS, perturbed_floors
from rnninspect.commands.verify.runtime_checks import check_runtime
from rnninspect.commands.verify.steps import cell_parity, step_parity
from rnninspect.core import devices, isolation, load, runtimes
from rnninspect.core.build import (
    UnexpectedResult,
    example_inputs,
    run_module,
    torch_module,
    torch_warnings,
    upstream_gradients,
)
from rnninspect.core.impl import Factory, build, load_factory
from rnninspect.core.options import FULL_SECONDS_EACH, QUICK_SECONDS, VerifyOptions
from rnninspect.core.parity import (
    RANGE_MARGIN,
    Comparison,
    Evidence,
    Tolerance,
    compare,
    compare_rows,
    default_tolerance,
    distance,
    judge,
)
from rnninspect.core.runs import (
    Forward,
    ImplementationFailed,
    Run,
    Side,
    reference_side,
    run_with_grads,
)
from rnninspect.core.runtimes.base import Prepared
from rnninspect.core.threads import auto_threads, torch_threads
from rnninspect.core.timing import Timing, seconds_of, time_sides
from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec, SpecError
from rnninspect.reports.common import versions
from rnninspect.reports.verify import RuntimeResult, StepParity, VerifyReport


def call_module(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], what: str
) -> dict[str, Tensor]:
    """One forward pass of torch's module or an ``--impl``; what it raises, or a result not
    shaped as torch's, fails the check (exit 1) in one line."""
    try:
        return run_module(module, spec, dict(inputs))
    except UnexpectedResult as exc:
        raise ImplementationFailed(f"the {what}'s forward {exc}") from None
    except SystemExit as exc:
        raise ImplementationFailed(f"the {what}'s forward called exit({exc.code})") from None
    except (KeyboardInterrupt, TimeLimitExceeded):
        raise
    except BaseException as exc:  # user code may raise anything, BaseException's own too
        raise ImplementationFailed(f"the {what}'s forward raised {exception_line(exc)}") from None


def _module_forward(module: nn.Module, spec: RNNSpec, what: str) -> Forward:
    return lambda inputs: call_module(module, spec, inputs, what)


def _tolerance(options: VerifyOptions, dtype: torch.dtype, device: torch.device) -> Tolerance:
    """The dtype's default, with ``--atol``/``--rtol`` replacing whichever was given."""
    base = default_tolerance(dtype, tf32=options.tf32 and device.type == "cuda", device=device.type)
    if options.atol is None and options.rtol is None:
        return base
    return Tolerance(
        base.atol if options.atol is None else options.atol,
        base.rtol if options.rtol is None else options.rtol,
        "given with --atol/--rtol",
    )


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
    device = devices.resolve_device(options.device)
    dtype = devices.resolve_dtype(options.dtype, device)
    ref_device = devices.reference_device(device)
    tolerance = _tolerance(options, dtype, device)
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
    if options.tf32 and device.type == "cuda" and dtype == torch.float32:
        notes.append(
            f"TF32 allowed: tolerances widened to atol={tolerance.atol:g}, rtol={tolerance.rtol:g}"
        )
    with devices.tf32(options.tf32), torch_warnings() as warned:
        # Dropout is never exercised: torch's module is built with dropout 0 (same weights, as
        # the constructor draws no random numbers for it) and kept in training mode, because
        # cuDNN differentiates RNNs only in training mode; an --impl given dropout > 0 runs in
        # eval mode instead.
        without_dropout = dataclasses.replace(spec, dropout=0.0)
        module = torch_module(without_dropout, device, dtype, weight_scale=options.weight_scale)
        if options.weights is not None:
            module.load_state_dict(options.weights, strict=True)
        state_dict = {k: v.detach() for k, v in module.state_dict().items()}
        under_test = module
        if options.impl is not None:
            built = build(factory, spec, state_dict, str(label))
            under_test = built.to(device=device, dtype=dtype).train(spec.dropout == 0)

        inputs = example_inputs(spec, device, dtype, zero_state=options.zero_state)
        upstream = upstream_gradients(spec, device)
        what = "implementation" if options.impl else "module"
        started = time.perf_counter()  # the parity work, which a quick timing costs no more than
        seen: dict[str, float] = {}  # seconds of each timed side's forward+backward below
        timed = functools.partial(_timed_run, seen, devices.synchronizer(device))
        tested = timed(
            f"{what}_backward",
            _module_forward(under_test, spec, what),
            dict(under_test.named_parameters()),
            inputs,
            upstream,
        )
        baseline = None
        if options.impl is not None:
            baseline = timed(
                "module_backward",
                _module_forward(module, spec, "torch module"),
                dict(module.named_parameters()),
                inputs,
                upstream,
            )

        exact = timed(
            "reference_backward", *reference_side(spec, module, inputs, ref_device), upstream
        )
        same = exact  # a float64 module's noise floor is 0: its dtype is the reference's
        if dtype != torch.float64:
            same = run_with_grads(
                *reference_side(spec, module, inputs, ref_device, dtype), upstream
            )
        judged_against = exact if options.reference_dtype == "float64" else same

        comparisons = compare_rows(
            tested.rows(), judged_against.rows(), tolerance, dtype, tested.misshapen, device
        )
        steps: StepParity | None = None
        if not all(c.within() for c in comparisons.values()):
            try:
                if spec.cell.is_cell:
                    steps = cell_parity(
                        spec,
                        _module_forward(under_test, spec, what),
                        dict(under_test.named_parameters()),
                        state_dict,
                        inputs,
                        upstream,
                        tolerance,
                    )
                else:
                    steps = step_parity(
                        spec,
                        under_test,
                        lambda m, one, i: call_module(m, one, i, what),
                        state_dict,
                        inputs,
                        tolerance,
                    )
            except Exception as exc:
                notes.append(
                    f"step-wise parity could not run ({exception_line(exc)}), so no row can be "
                    "inconclusive"
                )
            if steps is not None and steps.packed:
                notes.append(
                    "step-wise parity fed the packed sequences one step at a time (packed, "
                    "length 1): it cannot see how the implementation handles sequences that "
                    "end at different steps; the whole-sequence rows do"
                )

        evidence_of = _evidence(
            spec,
            comparisons,
            exact,
            same,
            judged_against,
            steps,
            dtype,
            lambda: perturbed_floors(spec, module, inputs, upstream, ref_device, dtype, exact),
        )
        rows = []
        for name, comparison in comparisons.items():
            base = None
            if baseline is not None:
                base = compare(
                    baseline.rows().get(name), judged_against.rows().get(name), tolerance
                )
            row = judge(name, comparison, tolerance, evidence_of[name], base)
            if row.verdict == "fail":
                found = finding(
                    spec, name, tested.rows().get(name), judged_against.rows().get(name), tolerance
                )
                row = dataclasses.replace(row, finding=found)
            rows.append(row)

        failing = {row.tensor for row in rows if row.verdict == "fail"}
        step = lambda one, x: call_module(under_test, one, x, what)  # noqa: E731
        notes += gate_notes(spec, failing, step, state_dict)

        checked = _runtimes(spec, under_test, options, tolerance, device, dtype, ref_device)

        work = time.perf_counter() - started
        timing: dict[str, Timing] = {}
        machine = None
        if options.timing != "off":
            with load.watched(torch.get_num_threads()) as watch:
                timing = _timings(
                    spec, module, under_test, options, inputs, upstream, ref_device, work, seen
                )
            machine = watch.load

    return VerifyReport(
        spec=spec,
        versions=versions(torch.__version__),
        device=devices.describe(device),
        dtype=options.dtype,
        reference_dtype=options.reference_dtype,
        tf32=options.tf32 if device.type == "cuda" else None,
        tolerance=tolerance,
        rows=rows,
        steps=steps,
        timing=timing,
        timing_mode=str(options.timing),
        notes=notes,
        warnings=warned,
        impl=label,
        weight_scale=options.weight_scale,
        zero_state=options.zero_state,
        weights_source=options.weights_source,
        runtimes=checked,
        machine=machine,
    )


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
    settings = {
        "exporter": options.exporter,
        "compile_backend": options.compile_backend,
        "fullgraph": options.fullgraph,
        "other_seq_len": options.other_seq_len,
        "other_batch": options.other_batch,
        "save_artifact": options.save_artifact,
    }
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


def _evidence(
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


def _timed_run(
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


def _timings(
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
            _module_forward(module, spec, "module"),
            dict(module.named_parameters()),
            inputs,
        ),
        "reference": reference_side(spec, module, inputs, ref_device),
    }
    if options.impl is not None:
        sides["implementation"] = (
            _module_forward(under_test, spec, "implementation"),
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
