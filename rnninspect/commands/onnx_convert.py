"""``rnninspect convert FILE --to onnx -o OUT.onnx``: a torch checkpoint's recurrent module
written as ONNX's own LSTM/GRU/RNN operators (:mod:`~rnninspect.files.onnx_graph`), checked
before it is written.

The file is staged beside OUT and loaded from there by each runtime (ONNX Runtime, and those
``--runtime`` adds), in a process of its own, then run at the example's shape and at other
lengths and batches (L = 1 and a long one among them) on seeded random inputs and initial
states; every output is judged against rnninspect's float64 reference of torch's equations
(:func:`~rnninspect.reference.reference_forward`, which never reads the ONNX graph). Only when
every runtime passes is the staged file renamed to OUT; otherwise OUT is left as it was and the
report says which shape failed and how.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnninspect import __version__
from rnninspect.base.errors import OutputError, RuntimeUnavailable, SpecError
from rnninspect.commands.conformance import numbers
from rnninspect.commands.conformance.workers import forked
from rnninspect.commands.infer import trained_weights
from rnninspect.core.onnx_runtimes import OperatorRuntime, Refused, require, runtime
from rnninspect.core.parity import default_tolerance
from rnninspect.files import output as output_files
from rnninspect.files.onnx_graph import DEFAULT_OPSET, OPSETS, module_model, projected_model
from rnninspect.files.onnx_model import INSTALL, serialized
from rnninspect.model.spec import RNNSpec
from rnninspect.reference import reference_forward
from rnninspect.reference.onnx_torch import onnx_node
from rnninspect.reports.conformance import OutputRow
from rnninspect.reports.onnx_convert import OnnxConvertReport, RuntimeCheck
from rnninspect.reports.onnx_file import Check

#: Seconds one runtime may take over every shape.
RUNTIME_TIMEOUT = 600.0
#: The long sequence every file runs at, beside L = 1 and the example's.
LONG = 100


def convert_to_onnx(
    path: str,
    output: str,
    prefix: str | None = None,
    nonlinearity: str | None = None,
    batch_first: bool = False,
    opset: int | None = None,
    runtimes: Sequence[str] = ("onnxruntime",),
    packed: bool = False,
    spec_text: str | None = None,
) -> OnnxConvertReport:
    """Read the module, write its graph to a staged file, run it everywhere, then rename;
    ``packed`` adds the ``lengths`` input (ONNX's ``sequence_lens``) for packed batches.
    ``spec_text`` (a SPEC, with ``path`` its weights) says what the weights do not record."""
    chosen_opset = DEFAULT_OPSET if opset is None else opset
    if chosen_opset not in OPSETS:
        raise SpecError(f"--opset {chosen_opset}: rnninspect writes opsets 13 to 22")
    target = _check_output(output)
    if importlib.util.find_spec("onnx") is None:
        raise RuntimeUnavailable(f"convert --to onnx needs the onnx package: {INSTALL}")
    for name in runtimes:
        require(name)
    given = {"nonlinearity": nonlinearity, "batch_first": batch_first or None}
    try:
        spec, params = trained_weights(path, prefix, spec_text, given)
    except SpecError as exc:  # its messages speak of verify's --weights; here FILE is read
        raise SpecError(str(exc).replace("--weights ", "", 1)) from None
    if packed and spec.proj_size:
        raise SpecError(
            "--packed: an LSTM with proj_size is written as a Scan of its steps, which has no "
            "sequence_lens; convert it without --packed"
        )
    if packed and spec.cell.is_cell:
        raise SpecError(f"--packed: a {spec.cell.torch_name} takes one step; it has no lengths")
    if spec.proj_size:  # no ONNX operator projects: the steps written out in a Scan
        model = projected_model(spec, params, chosen_opset)
    else:
        model = module_model(spec, params, chosen_opset, packed)
    data = serialized(model)
    shapes = _shapes(spec)
    checks = []
    with output_files.staged(target, ".onnx", "-o") as staged:
        staged.write_bytes(data)
        for name in dict.fromkeys(runtimes):
            where = runtime(name)
            work = functools.partial(
                _run_everywhere, str(staged), spec, params, where, shapes, packed
            )
            found, crash = forked(work, RUNTIME_TIMEOUT)
            checks.append(RuntimeCheck(where.name, where.version, found or Check(crash=crash)))
        written = all(check.check.verdict in ("pass", "inconclusive") for check in checks)
        if written:
            output_files.commit(staged, target, "-o")
    layers = 1 if spec.cell.is_cell else spec.num_layers
    if spec.proj_size:
        directions = ("forward", "reverse")[: spec.num_directions]
        described = [
            f"scan_l{layer}_{direction}: Scan of one LSTM step with projection {spec.proj_size} "
            "(MatMul, Split, Sigmoid, Tanh, Mul)"
            for layer in range(layers)
            for direction in directions
        ]
    else:
        node = onnx_node(spec)
        described = [f"{node.op.lower()}_l{layer}: {node.describe()}" for layer in range(layers)]
    notes = [
        f"{spec.nonlinearity} nonlinearity: a checkpoint does not record it (--nonlinearity)"
        if spec.cell.family == "rnn"
        else "",
        "batch_first: a checkpoint does not record it (--batch-first); the file takes and gives "
        + ("(N, L, ...)" if spec.batch_first else "(L, N, ...)")
        if not spec.cell.is_cell
        else "",
        "dropout between layers is a training-time setting: the file computes the module in "
        "eval mode"
        if layers > 1
        else "",
        "the initial states are inputs: feed zeros where torch's module would be called "
        "without them",
        "lengths (N, int32) is every node's sequence_lens: output is zero past each length "
        "and h_n the last valid step, as torch gives them for a packed batch (padded back); "
        "checked with lengths from 1 to L in no order"
        if packed
        else "",
    ]
    return OnnxConvertReport(
        source=str(path),
        output=str(output),
        spec=spec.to_spec_string(),
        opset=chosen_opset,
        versions={"rnninspect": __version__, "torch": torch.__version__},
        nodes=tuple(described),
        inputs=tuple(_described(value) for value in model.graph.input),
        outputs=tuple(_described(value) for value in model.graph.output),
        shapes=tuple(shapes),
        runtimes=tuple(checks),
        written=written,
        notes=tuple(note for note in notes if note),
    )


def _check_output(output: str) -> Path:
    """OUT, checked before any work: a .onnx file where a new file can be written."""
    if Path(output).suffix != ".onnx":
        raise OutputError(f"-o {output}: --to onnx writes a .onnx file")
    return output_files.target(output, "-o")


def _shapes(spec: RNNSpec) -> list[tuple[int, int]]:
    """(L, N): every length of 1, the example's, 2L+3 and a long one, at batches of 1, the
    example's and N+2; a Cell takes one step."""
    lengths = [1] if spec.cell.is_cell else [1, spec.seq_len, 2 * spec.seq_len + 3, LONG]
    batches = [1, spec.batch, spec.batch + 2]
    return list(dict.fromkeys((steps, batch) for steps in lengths for batch in batches))


def _described(value: object) -> str:
    dims = value.type.tensor_type.shape.dim  # type: ignore[attr-defined]
    shown = ", ".join(d.dim_param or str(d.dim_value) for d in dims)
    return f"{value.name} [{shown}]"  # type: ignore[attr-defined]


def _inputs(spec: RNNSpec, steps: int, batch: int) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(1000 * steps + batch)
    d, size = spec.num_directions, spec.hidden_size
    shapes: dict[str, tuple[int, ...]]
    if spec.cell.is_cell:
        shapes = {"input": (batch, spec.input_size), "h0": (batch, size)}
    else:
        seq = (batch, steps) if spec.batch_first else (steps, batch)
        layers = spec.num_layers * d
        out = spec.proj_size or size  # h is projected where the LSTM has proj_size
        shapes = {"input": (*seq, spec.input_size), "h0": (layers, batch, out)}
        if spec.cell.family == "lstm":
            shapes["c0"] = (layers, batch, size)
    if spec.cell.family == "lstm" and "c0" not in shapes:
        shapes["c0"] = shapes["h0"]
    return {
        name: torch.randn(shape, generator=generator, dtype=torch.float64)
        for name, shape in shapes.items()
    }


def _run_everywhere(
    staged: str,
    spec: RNNSpec,
    params: Mapping[str, Tensor],
    where: OperatorRuntime,
    shapes: Sequence[tuple[int, int]],
    packed: bool = False,
) -> Check:
    """The fork's work: the staged file loaded once, run at every shape, judged; with
    ``packed``, each batch's lengths run from 1 to L, the first full, in no order."""
    names = ["h1", "c1"] if spec.cell.is_cell else ["output", "h_n", "c_n"]
    names = names if spec.cell.family == "lstm" else names[:-1]
    try:
        run = where.load(Path(staged).read_bytes(), names)
    except Refused as refused:
        return Check(refusal=str(refused))
    exact = {name: value.detach().to(torch.float64) for name, value in params.items()}
    single = {name: value.detach().to(torch.float32) for name, value in params.items()}
    tolerance = default_tolerance(torch.float32)
    rows: list[OutputRow] = []
    for steps, batch in shapes:
        lengths = None
        if packed:
            generator = torch.Generator().manual_seed(steps * 7 + batch)
            rest = torch.randint(1, steps + 1, (batch - 1,), generator=generator).tolist()
            lengths = (steps, *rest)
        at = dataclasses.replace(spec, seq_len=steps, batch=batch, lengths=lengths)
        inputs = _inputs(spec, steps, batch)
        feeds = {name: value.to(torch.float32).numpy() for name, value in inputs.items()}
        if lengths is not None:
            feeds["lengths"] = np.array(lengths, dtype=np.int32)
        try:
            found = run(feeds)
        except Refused as refused:
            return Check(rows=tuple(rows), crash=f"at L={steps} N={batch}, {refused}")
        low = {name: value.to(torch.float32) for name, value in inputs.items()}
        want = numbers.Expected(
            {k: v.numpy() for k, v in reference_forward(at, exact, inputs).items()},
            {k: v.detach().numpy() for k, v in reference_forward(at, single, low).items()},
        )
        rows += [
            numbers.judge(name, found.get(name), want, (steps, batch), tolerance) for name in names
        ]
    return Check(rows=tuple(rows))
