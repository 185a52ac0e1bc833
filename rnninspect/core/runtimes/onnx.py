"""``onnx``: ``torch.onnx.export`` (the dynamo exporter or the legacy TorchScript one), then the
file run by ONNX Runtime on the chosen device. Forward only: ONNX Runtime has no gradients.

The sequence length and batch are marked dynamic (``Dim.AUTO`` for the dynamo exporter:
dynamic wherever it can keep them so; ``dynamic_axes`` for the legacy one), so the same file
should run at other shapes; where an exporter bakes the example's size into the graph, the run at
the other shapes fails, and says so.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnninspect.core.build import packed_input, result_names
from rnninspect.core.runtimes.base import (
    Prepared,
    RuntimeFailed,
    RuntimeOptions,
    RuntimeUnavailable,
    name_results,
)
from rnninspect.model.spec import RNNSpec

INSTALL = "pip install 'rnninspect[onnx]'"


def _names(spec: RNNSpec) -> tuple[list[str], list[str]]:
    state = ["h0", "c0"] if spec.has_cell_state else ["h0"]
    return ["input", *state], list(result_names(spec))


def _axes(spec: RNNSpec) -> dict[str, dict[int, str]]:
    """The legacy exporter's dynamic_axes: L and N wherever they appear."""
    if spec.unbatched:
        return {} if spec.cell.is_cell else {"input": {0: "L"}, "output": {0: "L"}}
    if spec.cell.is_cell:
        return {name: {0: "N"} for name in ("input", "h0", "c0", "h1", "c1")}
    sequence = {0: "N", 1: "L"} if spec.batch_first else {0: "L", 1: "N"}
    states = {name: {1: "N"} for name in ("h0", "c0", "h_n", "c_n")}
    return {"input": sequence, "output": sequence, **states}


class _Flat(nn.Module):
    """The module with flat inputs and outputs, as an ONNX graph has them."""

    def __init__(self, module: nn.Module, spec: RNNSpec) -> None:
        super().__init__()
        self.module, self.spec = module, spec

    def forward(self, x: Any, h0: Tensor, c0: Tensor | None = None) -> Any:
        state: Any = h0 if c0 is None else (h0, c0)
        result = self.module(x, state)
        if self.spec.cell.is_cell:
            return result
        output, final = result
        return (output, *final) if isinstance(final, tuple) else (output, final)


#: The names, normalised (lower case, letters and digits only), by which a file's inputs and
#: outputs are recognised: torch's own, ONNX's operator names (X, initial_h, Y, Y_h, ...) and
#: the usual ones of hand-written exports.
_KNOWN = {
    "input": {"input", "inputs", "x", "xs", "seq", "sequence", "data", "src"},
    "h0": {
        "h0",
        "h",
        "hx",
        "initialh",
        "inith",
        "hinit",
        "hidden",
        "hiddenstate",
        "state",
        "stateh",
    },
    "c0": {"c0", "c", "cx", "initialc", "initc", "cinit", "cell", "cellstate", "statec"},
    "output": {"output", "outputs", "out", "y", "ys"},
    "h_n": {"hn", "yh", "hy", "hout", "finalh", "lasth", "hidden", "hiddenstate", "stateh"},
    "c_n": {"cn", "yc", "cy", "cout", "finalc", "lastc", "cell", "cellstate", "statec"},
    "h1": {"h1", "hy", "yh", "hout", "hnext", "h", "hidden"},
    "c1": {"c1", "cy", "yc", "cout", "cnext", "c", "cell"},
}


def _normal(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def matched(graph: list[str], ours: list[str]) -> tuple[dict[str, str], str]:
    """Which of ``ours`` (torch's names) each of the file's ``graph`` names stands for, and how
    that was decided: by name, where every one of the file's names is recognised and none twice;
    else by position, in torch's order (the file may take or give fewer)."""
    by_name: dict[str, str] = {}
    for name in graph:
        candidates = [our for our in ours if _normal(name) in _KNOWN[our] or _normal(name) == our]
        if len(candidates) != 1 or candidates[0] in by_name.values():
            break
        by_name[name] = candidates[0]
    else:
        if graph:
            return by_name, "by name"
    return dict(zip(graph, ours, strict=False)), "by position"


def load(path: str, spec: RNNSpec, device: torch.device, label: str) -> Prepared:
    """An ONNX file the user already has, run by ONNX Runtime from its path (so that weights a
    dynamo export keeps in ``FILE.data`` beside it are found). Its inputs and outputs are
    matched to torch's by name where the names say (:func:`matched`), else by position; an
    initial state the file does not take is zero, as the file computes."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RuntimeUnavailable(f"--onnx needs ONNX Runtime: {INSTALL}") from None
    prepared = _session(path, spec, device, matching=True)
    prepared.detail = f"{label}, {prepared.detail}"
    return prepared


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: RuntimeOptions
) -> Prepared:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RuntimeUnavailable(f"--runtime onnx needs ONNX Runtime: {INSTALL}") from None
    exporter = settings.exporter or "dynamo"
    if exporter == "dynamo":
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            raise RuntimeUnavailable(
                f"the dynamo ONNX exporter needs onnxscript: {INSTALL}"
            ) from None
    in_names, out_names = _names(spec)
    args = (packed_input(spec, inputs), *(inputs[name] for name in in_names[1:]))
    flat = _Flat(module, spec).eval()
    data = _export(flat, spec, args, in_names, out_names, exporter)
    prepared = _session(data, spec, inputs["input"].device)
    prepared.detail = f"torch.onnx.export ({exporter}), {prepared.detail}"
    return prepared


def _session(
    source: bytes | str, spec: RNNSpec, device: torch.device, matching: bool = False
) -> Prepared:
    """ONNX Runtime on the file (its bytes, or its path), on the device's provider, ready to
    run. Its inputs and outputs are torch's, in torch's order, unless ``matching`` (a file of
    the user's): then they are matched by :func:`matched`, and said."""
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise RuntimeUnavailable(
                "--runtime onnx on CUDA needs onnxruntime-gpu (CUDAExecutionProvider)"
            )
        providers = ["CUDAExecutionProvider"]
    quiet = onnxruntime.SessionOptions()
    quiet.log_severity_level = 4  # its own errors come back as exceptions; no log on stderr
    try:
        session = onnxruntime.InferenceSession(source, quiet, providers=providers)
    except Exception as exc:
        raise RuntimeFailed("ONNX Runtime could not load the file", exc) from None
    graph_inputs = [node.name for node in session.get_inputs()]
    graph_outputs = [node.name for node in session.get_outputs()]
    in_names, out_names = _names(spec)
    inputs_as, outputs_as = dict(zip(graph_inputs, in_names, strict=False)), None
    said = ""
    if matching:
        inputs_as, how_in = matched(graph_inputs, in_names)
        outputs_as, how_out = matched(graph_outputs, out_names)
        said = f", inputs {_pairs(inputs_as)} ({how_in}), outputs {_pairs(outputs_as)} ({how_out})"
        if "input" not in inputs_as.values():
            raise RuntimeFailed(
                "the file", f"none of its inputs ({', '.join(graph_inputs)}) is the sequence"
            )
    missing = [name for name in in_names[1:] if name not in inputs_as.values()]
    if missing:
        said += f"; it takes no {', '.join(missing)}: compared from a zero initial state"
    absent = [name for name in out_names if outputs_as and name not in outputs_as.values()]
    if absent:
        said += f"; it gives no {', '.join(absent)}: not compared"

    def run(given: Mapping[str, Tensor], shaped: RNNSpec) -> dict[str, Tensor]:
        feed = {graph: given[name].detach().cpu().numpy() for graph, name in inputs_as.items()}
        try:
            results = session.run(None, feed)
        except Exception as exc:
            raise RuntimeFailed("ONNX Runtime", exc) from None
        tensors = [torch.from_numpy(value).to(device) for value in results]
        if outputs_as is None:
            return name_results(tuple(tensors), spec)
        return {
            outputs_as[graph]: tensor
            for graph, tensor in zip(graph_outputs, tensors, strict=True)
            if graph in outputs_as
        }

    version = getattr(onnxruntime, "__version__", "?")
    detail = f"ONNX Runtime {version} on {providers[0]}{said}"
    artifact = source if isinstance(source, bytes) else None
    given = None if outputs_as is None else tuple(n for n in out_names if n in outputs_as.values())
    return Prepared(
        run, False, detail, {}, artifact, ".onnx", zero_state=bool(missing), results=given
    )


def _pairs(named: Mapping[str, str]) -> str:
    return ", ".join(f"{graph} -> {ours}" for graph, ours in named.items())


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Keep what the exporters print (progress, the whole graph when the legacy one fails) off
    stdout and stderr, at the level of the file descriptors, where their C++ writes too."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _export(
    flat: nn.Module,
    spec: RNNSpec,
    args: tuple[Any, ...],
    in_names: list[str],
    out_names: list[str],
    exporter: str,
) -> bytes:
    """The ONNX file's bytes; what the exporter prints is kept off stdout."""
    handle, path = tempfile.mkstemp(suffix=".onnx")
    os.close(handle)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _silenced():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                # AUTO: dynamic wherever the exporter can keep it so, as users export
                auto = torch.export.Dim.AUTO
                shapes = [{dim: auto for dim in _axes(spec).get(name, {})} for name in in_names]
                program = torch.onnx.export(
                    flat, args, dynamo=True, dynamic_shapes=tuple(shapes), verbose=False
                )
                if program is None:
                    raise RuntimeError("the exporter returned no program")
                program.save(path)
            else:
                torch.onnx.export(
                    flat,
                    args,
                    path,
                    dynamo=False,
                    input_names=in_names,
                    output_names=out_names,
                    dynamic_axes=_axes(spec),
                )
        with open(path, "rb") as handle_in:
            return handle_in.read()
    except Exception as exc:
        raise RuntimeFailed(f"torch.onnx.export ({exporter})", exc) from None
    finally:
        quiet.setLevel(level)
        with contextlib.suppress(OSError):
            os.unlink(path)
