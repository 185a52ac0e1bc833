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

from rnninspect.runtimes.base import (
    Prepared,
    RuntimeFailed,
    RuntimeUnavailable,
    name_results,
    packed,
)
from rnninspect.spec import RNNSpec

INSTALL = "pip install 'rnninspect[onnx]'"


def _names(spec: RNNSpec) -> tuple[list[str], list[str]]:
    state = ["h0", "c0"] if spec.has_cell_state else ["h0"]
    if spec.cell.is_cell:
        return ["input", *state], (["h1", "c1"] if spec.has_cell_state else ["h1"])
    outputs = ["output", "h_n", "c_n"] if spec.has_cell_state else ["output", "h_n"]
    return ["input", *state], outputs


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


def load(data: bytes, spec: RNNSpec, device: torch.device, label: str) -> Prepared:
    """An ONNX file the user already has, run by ONNX Runtime: its inputs are taken in order as
    input, h0 (, c0) and its outputs as torch's results, whatever the file names them."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RuntimeUnavailable(f"--onnx needs ONNX Runtime: {INSTALL}") from None
    prepared = _session(data, spec, device, _names(spec)[0])
    prepared.detail = f"{label}, {prepared.detail}"
    return prepared


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: Mapping[str, Any]
) -> Prepared:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise RuntimeUnavailable(f"--runtime onnx needs ONNX Runtime: {INSTALL}") from None
    exporter = str(settings.get("exporter") or "dynamo")
    if exporter == "dynamo":
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            raise RuntimeUnavailable(
                f"the dynamo ONNX exporter needs onnxscript: {INSTALL}"
            ) from None
    in_names, out_names = _names(spec)
    args = (packed(spec, inputs), *(inputs[name] for name in in_names[1:]))
    flat = _Flat(module, spec).eval()
    data = _export(flat, spec, args, in_names, out_names, exporter)
    prepared = _session(data, spec, inputs["input"].device, in_names)
    prepared.detail = f"torch.onnx.export ({exporter}), {prepared.detail}"
    return prepared


def _session(data: bytes, spec: RNNSpec, device: torch.device, in_names: list[str]) -> Prepared:
    """ONNX Runtime on the file's bytes, on the device's provider, ready to run."""
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
        session = onnxruntime.InferenceSession(data, quiet, providers=providers)
    except Exception as exc:
        raise RuntimeFailed("ONNX Runtime could not load the file", exc) from None
    graph_inputs = [node.name for node in session.get_inputs()]

    def run(given: Mapping[str, Tensor], shaped: RNNSpec) -> dict[str, Tensor]:
        feed = {
            graph: given[name].detach().cpu().numpy()
            for graph, name in zip(graph_inputs, in_names, strict=False)
        }
        try:
            results = session.run(None, feed)
        except Exception as exc:
            raise RuntimeFailed("ONNX Runtime", exc) from None
        tensors = [torch.from_numpy(value).to(device) for value in results]
        return name_results(tuple(tensors), spec)

    version = getattr(onnxruntime, "__version__", "?")
    names = ", ".join(graph_inputs)
    detail = f"ONNX Runtime {version} on {providers[0]}, inputs {names} taken as " + ", ".join(
        in_names[: len(graph_inputs)]
    )
    return Prepared(run, False, detail, {}, data, ".onnx")


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
