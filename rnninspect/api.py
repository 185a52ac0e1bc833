"""The library entry points behind each command: one short function per command, which calls
its engine (``rnninspect.commands``); the CLI is a thin layer over these."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec, make_spec, resolve

if TYPE_CHECKING:
    from torch import Tensor

    from rnninspect.core.onnx_runtimes import OperatorRuntime
    from rnninspect.reports.bench import BenchReport
    from rnninspect.reports.conformance import ConformanceReport
    from rnninspect.reports.convert import ConvertReport
    from rnninspect.reports.diagnose import DiagnoseReport
    from rnninspect.reports.explain import ExplainReport
    from rnninspect.reports.infer import InferReport
    from rnninspect.reports.keras import KerasReport
    from rnninspect.reports.matrix import Case, MatrixReport
    from rnninspect.reports.onnx_convert import OnnxConvertReport
    from rnninspect.reports.onnx_file import OnnxFileReport
    from rnninspect.reports.shapes import ShapesReport
    from rnninspect.reports.vectors import (
        VectorsCheckReport,
        VectorsReport,
        VectorsVerifyReport,
    )
    from rnninspect.reports.verify import VerifyReport


def inspect_shapes(spec: RNNSpec, max_memory: int | None = None) -> ShapesReport:
    """``rnninspect shapes``: build the real module, run one forward pass, and set every shape
    torch produced beside the shape model's (:mod:`rnninspect.commands.shapes`)."""
    from rnninspect.commands.shapes import inspect_shapes as shapes

    return shapes(spec, max_memory)


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


def verify_onnx_file(
    path: str | Path,
    runtimes: Sequence[str] = ("onnxruntime",),
    shapes: Sequence[tuple[int, int]] = ((5, 3), (8, 4), (1, 1)),
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
) -> OnnxFileReport:
    """Every LSTM, GRU and RNN node of an ONNX file, with the weights it holds, against the
    ONNX equations: each node alone and inside the whole graph, in each runtime
    (``onnxruntime``, ``openvino``, ``tract``, ``onnx-reference``), at each (L, N) of
    ``shapes``; what ``verify --onnx FILE`` prints without ``--weights``."""
    from rnninspect.commands.onnx_file import check_file

    return check_file(str(path), runtimes, shapes, seed, atol, rtol)


def _spec_and_options(
    spec: str | RNNSpec | None, settings: dict[str, Any], option_type: type
) -> tuple[RNNSpec, dict[str, Any]]:
    """A SPEC (string, RNNSpec or None) with the CONFIG values among ``settings`` applied, and
    the settings that are ``option_type``'s fields."""
    names = {f.name for f in dataclasses.fields(option_type)}
    options = {key: settings.pop(key) for key in list(settings) if key in names}
    if isinstance(spec, RNNSpec):
        return (make_spec(**{**spec.to_dict(), **settings}) if settings else spec), options
    return resolve(spec, settings), options


def bench(spec: str | RNNSpec | None = None, **settings: Any) -> BenchReport:
    """``rnninspect bench``: time torch's module and the reference (and any ``impls``);
    ``settings`` are CONFIG values and bench's options, as for :func:`verify`."""
    from rnninspect.commands import bench as benchmarks
    from rnninspect.core.options import BenchOptions

    resolved, options = _spec_and_options(spec, settings, BenchOptions)
    return benchmarks.bench(resolved, BenchOptions(**options))


def sweep(
    spec: RNNSpec,
    sweep: str,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> BenchReport:
    """``rnninspect bench --sweep NAME=V1,V2,...``: one benchmark per value, and the growth."""
    from rnninspect.commands import bench as benchmarks
    from rnninspect.core.options import BenchOptions
    from rnninspect.model.spec import SpecError

    resolved, options = _spec_and_options(spec, settings, BenchOptions)
    chosen = BenchOptions(**options)
    name, values = benchmarks.parse_sweep(sweep, resolved)
    if chosen.weights is not None and name in ("hidden_size", "num_layers"):
        raise SpecError(f"--sweep {name}: the sizes of --weights are fixed by the checkpoint")
    return benchmarks.sweep(resolved, name, values, chosen, progress or (lambda done, total: None))


def load_matrix(
    path: str | Path,
    device: str = "cpu",
    dtype: str = "float32",
    timeout: float | None = None,
    shard: str | None = None,
) -> list[Case]:
    """``rnninspect matrix``'s cases: a matrix file read, validated and expanded (and cut to
    the ``K/N`` shard), before anything runs."""
    from rnninspect.commands.matrix import shards
    from rnninspect.commands.matrix.matrix import load

    cases = load(Path(path), device, dtype, timeout)
    return cases if shard is None else shards.shard(cases, *shards.parse_shard(shard))


def matrix(cases: list[Case], path: str | Path, **settings: Any) -> MatrixReport:
    """``rnninspect matrix``: verify every case (``settings``: ``device``, ``dtype``,
    ``fail_fast``, ``allow_inconclusive``, ``progress``, ``jobs``, ``shard``)."""
    from rnninspect.commands.matrix import shards
    from rnninspect.commands.matrix.matrix import run_matrix

    shard = settings.pop("shard", None)
    sliced = None if shard is None else shards.parse_shard(shard)
    return run_matrix(cases, str(path), shard=sliced, **settings)


def conformance(
    runtimes: Sequence[str | OperatorRuntime] = (), **settings: Any
) -> ConformanceReport:
    """``rnninspect conformance``: ONNX's LSTM, GRU and RNN operators, in single-node models
    that cover every attribute, run in each runtime (``"onnxruntime"``, ``"openvino"``,
    ``"tract"``, ``"onnx-reference"``, or an :class:`OperatorRuntime` of your own) and judged
    against the equations. ``settings``: ``ops`` (a sequence of ``lstm``, ``gru``, ``rnn``),
    ``text`` (the --filter), ``shard`` (``"K/N"``), ``export`` (a folder), ``jobs``,
    ``strict``, ``progress``."""
    from rnninspect.commands.conformance.conformance import conformance as run_conformance
    from rnninspect.commands.matrix import shards

    shard = settings.pop("shard", None)
    sliced = None if shard is None else shards.parse_shard(shard)
    return run_conformance(runtimes, shard=sliced, **settings)


def infer(path: str | Path, max_memory: int | None = None) -> InferReport:
    """``rnninspect infer``: every recurrent module in a checkpoint (``.pt``, ``.pth``,
    ``.bin``, ``.safetensors``, ``.npz``), weights stored through reparametrisations rebuilt."""
    from rnninspect.commands.infer import infer_file

    return infer_file(path, max_memory)


def trained_weights(
    path: str | Path,
    prefix: str | None,
    spec_text: str | None,
    given: Mapping[str, Any],
    max_memory: int | None = None,
) -> tuple[RNNSpec, dict[str, Tensor]]:
    """``--weights FILE --prefix P``: the module's configuration (weights first, the given
    settings for what they do not record) and its state dict under torch's own names."""
    from rnninspect.commands.infer import trained_weights as weights

    return weights(path, prefix, spec_text, given, max_memory)


def explain(spec: RNNSpec) -> ExplainReport:
    """``rnninspect explain``: the equations, shapes and unrolled network of a spec, with every
    relation between output and the final state checked on the real module."""
    from rnninspect.commands.explain import explain_module

    return explain_module(spec)


def keras(spec: RNNSpec, check: bool = False, reset_after: bool = True) -> KerasReport:
    """``rnninspect keras``: the Keras layers that compute ``spec``'s module and where every
    weight goes; with ``check``, both run on the same weights and input."""
    from rnninspect.commands.keras.keras import keras_layers

    return keras_layers(spec, check, reset_after)


def convert(
    file: str | Path,
    to: str,
    output: str | Path,
    prefix: str | None = None,
    nonlinearity: str | None = None,
    architecture: str | Path | None = None,
    assume_defaults: bool = False,
) -> ConvertReport:
    """``rnninspect convert``: the recurrent weights of ``file`` in the other framework's
    format, written to ``output`` only once both frameworks agree
    (:mod:`rnninspect.commands.keras.convert`)."""
    from rnninspect.commands.keras.convert import convert_file

    return convert_file(file, to, output, prefix, nonlinearity, architecture, assume_defaults)


def convert_to_onnx(
    file: str | Path,
    output: str | Path,
    prefix: str | None = None,
    nonlinearity: str | None = None,
    batch_first: bool = False,
    opset: int | None = None,
    runtimes: Sequence[str] = ("onnxruntime",),
    packed: bool = False,
    spec: str | None = None,
) -> OnnxConvertReport:
    """``rnninspect convert FILE --to onnx``: a checkpoint's recurrent module as ONNX's own
    operators, written to ``output`` only once every runtime ran the staged file right at
    every shape (:mod:`rnninspect.commands.onnx_convert`); ``spec``, a SPEC string, fills in
    what the weights do not record."""
    from rnninspect.commands.onnx_convert import convert_to_onnx as write

    return write(
        str(file), str(output), prefix, nonlinearity, batch_first, opset, runtimes, packed, spec
    )


def vectors(
    spec: str | RNNSpec | None,
    output: str | Path,
    fmt: str = "npz",
    layouts: Sequence[str] = (),
    matrix: str | Path | None = None,
    dtype: str = "float32",
) -> VectorsReport:
    """``rnninspect vectors``: golden numbers for ``spec`` (or each case of a ``matrix`` file)
    written to ``output`` as ``fmt`` (npz, safetensors, json) with a manifest, torch's module
    verified on them in ``dtype`` (:mod:`rnninspect.commands.vectors`)."""
    from rnninspect.commands import vectors as engine

    if matrix is not None:
        cases = [(c.name, c.spec, c.options.dtype) for c in load_matrix(matrix, dtype=dtype)]
    else:
        chosen = spec if isinstance(spec, RNNSpec) else resolve(spec, {})
        cases = [(chosen.to_spec_string(), chosen, dtype)]
    extra = [layout for layout in dict.fromkeys(layouts) if layout != "torch"]
    return engine.write(cases, output, fmt, ["torch", *extra])


def verify_vectors(
    folder: str | Path,
    impl: str | None = None,
    dtype: str = "float32",
    atol: float | None = None,
    rtol: float | None = None,
    timeout: float | None = None,
) -> VectorsVerifyReport:
    """``rnninspect verify --vectors DIR``: torch's module, or ``impl``, against a folder of
    saved vectors, offline (:mod:`rnninspect.commands.verify.vectors`)."""
    from rnninspect.commands.verify.vectors import verify_vectors as check

    return check(folder, impl, dtype, atol, rtol, timeout)


def check_vectors(folder: str | Path) -> VectorsCheckReport:
    """``rnninspect vectors --check DIR``: every vector set under ``folder`` derived again from
    its manifest, each tensor compared with the stored one."""
    from rnninspect.commands.vectors import check

    return check(folder)


def diagnose(
    spec: RNNSpec,
    input_shape: tuple[int, ...],
    h0: tuple[int, ...] | None = None,
    c0: tuple[int, ...] | None = None,
    probe: bool = True,
) -> DiagnoseReport:
    """``rnninspect diagnose``: whether these shapes fit the module; torch's own verdict
    beside rnninspect's."""
    from rnninspect.commands.diagnose.diagnose import diagnose_shapes

    return diagnose_shapes(spec, input_shape, h0, c0, probe)
