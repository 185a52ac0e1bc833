"""The library entry points behind each command; the CLI is a thin layer over these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnninspect.core.build import example_inputs, run_module, torch_module, torch_warnings
from rnninspect.model import memory
from rnninspect.model.shapes import layer_steps, parameter_shapes, tensor_shapes
from rnninspect.model.spec import RNNSpec, SpecError, make_spec, parse_spec, resolve
from rnninspect.reports.common import versions
from rnninspect.reports.convert import ConvertedModule, ConvertReport
from rnninspect.reports.diagnose import DiagnoseReport, Problem
from rnninspect.reports.explain import ExplainReport
from rnninspect.reports.infer import InferReport
from rnninspect.reports.keras import KerasReport
from rnninspect.reports.shapes import Measured, ShapesReport
from rnninspect.reports.verify import VerifyReport

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


def verify(spec: str | RNNSpec | None = None, **settings: Any) -> VerifyReport:
    """Verify torch's module, or ``impl``, against the reference; the report ``verify`` prints.

    ``spec`` is a SPEC string (``"nn.LSTM(10, 20, num_layers=2)"``), an :class:`RNNSpec`, or
    None for the defaults. ``settings`` are CONFIG values by their long names
    (``hidden_size=32``, ``batch_first=True``; they override the SPEC) and verify's options:
    ``device``, ``dtype``, ``impl`` (a ``"path.py:Name"``/``"pkg.module:Name"`` target, or the
    factory itself), ``atol``, ``rtol``, ``reference_dtype``, ``zero_state``, ``weight_scale``,
    ``tf32``, ``timing`` (default False here) and ``max_memory``.
    """
    # imported here: verification brings torch.utils.benchmark, which `shapes` does not need
    from rnninspect.commands.verify.verification import verify as run_verify
    from rnninspect.core.options import VerifyOptions

    option_names = {f.name for f in dataclasses.fields(VerifyOptions)}
    options = {key: settings.pop(key) for key in list(settings) if key in option_names}
    options.setdefault("timing", False)
    if isinstance(spec, RNNSpec):
        spec = make_spec(**{**spec.to_dict(), **settings}) if settings else spec
    else:
        spec = resolve(spec, settings)
    return run_verify(spec, VerifyOptions(**options))


def infer(path: str | Path, max_memory: int | None = None) -> InferReport:
    """Every recurrent module in a checkpoint (``.pt``, ``.pth``, ``.bin``, ``.safetensors``,
    ``.npz``), weights stored through torch's reparametrisations rebuilt."""
    from rnninspect.commands.infer import infer_modules
    from rnninspect.files.checkpoint import load_shapes
    from rnninspect.files.reparam import rebuild

    tensors, notes = rebuild(load_shapes(Path(path), max_memory))
    shapes = {name: tuple(value.shape) for name, value in tensors.items()}
    found = infer_modules(shapes)
    return InferReport(str(path), versions(torch.__version__), found, len(shapes), notes)


def trained_weights(
    path: str | Path,
    prefix: str | None,
    spec_text: str | None,
    given: Mapping[str, Any],
    max_memory: int | None = None,
) -> tuple[RNNSpec, dict[str, Tensor]]:
    """``--weights FILE --prefix P``: the module's configuration (weights first, the given
    settings for what they do not record) and its state dict under torch's own names."""
    from rnninspect.commands.infer import infer_modules, select, spec_with_weights
    from rnninspect.files.checkpoint import dense, load_tensors
    from rnninspect.files.reparam import rebuild

    tensors, _ = rebuild(load_tensors(Path(path), max_memory))
    shapes = {name: tuple(value.shape) for name, value in tensors.items()}
    module = select(infer_modules(shapes), prefix, str(path))
    settings = {key: value for key, value in given.items() if value is not None}
    if spec_text is not None:
        cell, from_spec = parse_spec(spec_text)
        settings = {"cell": cell.value, **from_spec, **settings}
    spec = spec_with_weights(module, settings)
    start = f"{module.prefix}." if module.prefix else ""
    state = {name: dense(tensors[start + name], start + name, path) for name in module.shapes}
    return spec, state


def explain(spec: RNNSpec) -> ExplainReport:
    """The equations, shapes and unrolled network of a spec, with every relation between output
    and the final state checked on the real module."""
    from rnninspect.commands import explain as text

    needed = memory.estimate(spec).shapes  # before anything runs, even on the meta device
    memory.check(needed, memory.default_limit(), f"nn.{spec.cell.torch_name} with these sizes")
    shapes = inspect_shapes(spec)
    with torch_warnings(), torch.no_grad():
        module = torch_module(spec)
        results = run_module(module, spec, example_inputs(spec))
    relations = [text.check(*pair[:2], results, *pair[2:]) for pair in text.relation_pairs(spec)]
    notes = [note for note in (text.batch_first_note(spec),) if note]
    diagram = text.diagram(spec)
    narrower = [text.diagram(spec, max_steps=steps) for steps in (6, 4, 2)]
    return ExplainReport(
        shapes, text.equations(spec), diagram, relations, notes, text.h_n_rows(spec), narrower
    )


def keras(spec: RNNSpec, check: bool = False, reset_after: bool = True) -> KerasReport:
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
    rows = _judged(found, expected, torch.float32)
    return dataclasses.replace(report, rows=rows, keras_version=library.__version__)


def convert(
    file: str | Path,
    to: str,
    output: str | Path,
    prefix: str | None = None,
    nonlinearity: str | None = None,
    architecture: str | Path | None = None,
    assume_defaults: bool = False,
) -> ConvertReport:
    """The recurrent weights of ``file`` (a torch checkpoint, or a ``.keras`` or ``.weights.h5``
    file) in the other framework's format, written to ``output`` only once every converted
    module has been run in both frameworks and matched (see
    :mod:`rnninspect.commands.keras.convert`).

    A ``.weights.h5`` file holds no settings: ``architecture`` (the model's JSON) gives them;
    without it, only ``assume_defaults`` converts it, and each module is then ``unchecked``.
    """
    from rnninspect.commands.keras import convert as files
    from rnninspect.commands.keras import mapping
    from rnninspect.files import output as out
    from rnninspect.files.checkpoint import CheckpointError
    from rnninspect.files.output import unreadable

    source = Path(file)
    problem = unreadable(source)
    if problem is not None:
        raise CheckpointError(f"{file}: {problem}")
    if files.source_kind(source) == to:
        back = "torch" if to == "keras" else "keras"
        raise SpecError(f"{file} is already a {to} file: --to {back} converts it")
    end = files.ending(Path(output), to, "--output")
    target = out.target(output, "--output")
    if to == "keras" and (architecture is not None or assume_defaults):
        raise SpecError("--architecture and --assume-defaults read a Keras file: --to torch")
    problem = None if architecture is None else unreadable(Path(architecture))
    if problem is not None:
        raise CheckpointError(f"--architecture {architecture}: {problem}")
    library = mapping.import_keras("convert")
    if to == "keras":
        pairs, notes, left = files.from_torch(source, prefix, nonlinearity)
    else:
        if prefix is not None:
            raise SpecError(
                "--prefix picks a module of a torch checkpoint; a Keras file is converted whole"
            )
        given = None if architecture is None else Path(architecture)
        pairs, notes, left = files.from_keras(library, source, given, nonlinearity, assume_defaults)
    for pair in pairs:
        memory.check(memory.estimate(pair.spec).verify, memory.default_limit(), "convert")
    if to == "keras" and end == ".weights.h5":
        notes.append(
            "a .weights.h5 file keeps no layer settings: reading it back needs this model's "
            "architecture (convert --to keras -o FILE.keras writes both in one file)"
        )
    with out.staged(target, end, "--output") as staged, torch_warnings():
        if to == "keras":
            files.write_keras(library, pairs, staged, end)
            files.read_keras_back(library, pairs, staged, end)
        else:
            files.write_torch(pairs, staged, end)
            files.read_torch_back(pairs, staged)
        modules = [
            ConvertedModule(
                pair.prefix,
                pair.names,
                pair.spec,
                mapping.mapping(pair.spec, to_torch=to == "torch"),
                _to_keras_rows(pair) if to == "keras" else _to_torch_rows(library, pair),
                code=pair.code,
                assumed=pair.assumed,
            )
            for pair in pairs
        ]
        written = all(module.verdict != "fail" for module in modules)
        if written:
            out.commit(staged, target, "--output")
    found = {**versions(torch.__version__), "keras": library.__version__}
    return ConvertReport(str(file), to, str(output), found, modules, notes, written, left)


def _to_keras_rows(pair: Any) -> list[Any]:
    """torch's module holding the checkpoint's weights and the Keras layers read back from the
    file written, on the same input and random initial state, Keras judged against torch row by
    row (in float64 where the weights are, else float32)."""
    from rnninspect.commands.keras import mapping

    dtype = torch.float64 if pair.state_dtype == torch.float64 else torch.float32
    with torch.no_grad():
        module = torch_module(pair.spec, dtype=dtype)
        module.load_state_dict(pair.state)
        inputs = example_inputs(pair.spec, dtype=dtype)
        expected = run_module(module.eval(), pair.spec, inputs)
        found = mapping.run_layers(pair.spec, pair.layers, inputs)
    return _judged(found, expected, dtype)


def _to_torch_rows(keras: Any, pair: Any) -> list[Any]:
    """The user's own Keras layers, as loaded, and torch's module read back from the state dict
    written, on the same sequence from a zero state (as the model runs its layers): each
    output of the layers judged against the torch result it stands for."""
    from rnninspect.commands.keras import check

    dtype = pair.state_dtype
    with torch.no_grad():
        module = torch_module(pair.spec, dtype=dtype)
        module.load_state_dict(pair.state)
        # a sequence (L, N, H_in) even for a Cell, which keras.layers.RNN steps over it
        spec = make_spec(cell=pair.spec.cell.family, input_size=pair.spec.input_size)
        sequence = example_inputs(spec, dtype=dtype)["input"].transpose(0, 1)  # (N, L, H_in)
        outputs = check.keras_side(keras, pair, sequence)
        results = check.torch_side(pair, module.eval(), sequence)
    rows = check.expected(pair, results)
    if len(rows) != len(outputs):
        raise SpecError(
            f"Keras layer {pair.names[-1]!r} returned {len(outputs)} tensors, where its settings "
            f"say {len(rows)}"
        )
    pairs = zip(rows, outputs, strict=True)
    found = {name: value for (name, want), value in pairs if want is not None}
    wanted = {name: want for name, want in rows if want is not None}
    return _judged(found, wanted, dtype)


def _judged(
    found: Mapping[str, Tensor], expected: Mapping[str, Tensor], dtype: torch.dtype
) -> list[Any]:
    """Keras's results judged row by row against ``expected``, at ``dtype``'s tolerance (no
    noise floor: the rows are pass or fail)."""
    from rnninspect.core.parity import compare_rows, default_tolerance, judge

    tolerance = default_tolerance(dtype)
    compared = compare_rows(found, expected, tolerance, dtype)
    return [judge(name, c, tolerance) for name, c in compared.items()]


def diagnose(
    spec: RNNSpec,
    input_shape: tuple[int, ...],
    h0: tuple[int, ...] | None = None,
    c0: tuple[int, ...] | None = None,
    probe: bool = True,
) -> DiagnoseReport:
    """Whether these shapes fit the module; torch's own verdict beside rnninspect's.

    ``spec.lengths``, when set, packs the input as ``pack_padded_sequence`` would; the batch
    and sequence length are read from ``input_shape``, never from the spec.
    """
    import math

    from rnninspect.commands.diagnose import diagnose as shapes_check
    from rnninspect.commands.diagnose.probe import torch_verdict

    lengths = spec.lengths
    problems = shapes_check.diagnose(spec, input_shape, h0, c0, lengths)
    read = shapes_check.example(spec, input_shape)
    torch_ran, torch_error, torch_note = False, None, None
    if probe:
        given = [s for s in (input_shape, h0, c0) if s is not None]
        needed = max(
            memory.estimate(read).shapes,
            4 * (sum(math.prod(s) for s in given) + memory.estimate(spec).parameters),
        )
        limit = memory.default_limit()
        if needed > limit:
            torch_note = (
                f"torch's probe was skipped: running torch on these shapes needs an estimated "
                f"{memory.format_bytes(needed)}, over the memory limit of "
                f"{memory.format_bytes(limit)}"
            )
        else:
            torch_ran, outcome = torch_verdict(spec, input_shape, h0, c0, lengths=lengths)
            torch_error, torch_note = (outcome, None) if torch_ran else (None, outcome)
        if not problems and torch_error is not None:
            hint = f"rnninspect's model accepts these shapes but torch does not: {torch_error}"
            problems.append(
                Problem(
                    "input",
                    None,
                    input_shape,
                    None,
                    "torch's check",
                    hint,
                    expected_text="what torch accepts",
                )
            )
    shapes = {"input": input_shape, "h0": h0, "c0": c0}
    found = versions(torch.__version__)
    from rnninspect.commands.diagnose.reading import how_read

    read_as = how_read(spec, input_shape)
    return DiagnoseReport(
        read, found, shapes, problems, torch_ran, torch_error, torch_note, read_as
    )
