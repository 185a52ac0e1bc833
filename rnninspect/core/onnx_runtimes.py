"""The runtimes that run ONNX models for ``conformance`` and ``verify --onnx FILE``: ONNX
Runtime, OpenVINO, tract and ONNX's own reference evaluator, each an optional extra, behind one
interface: load a model once, run it on named numpy inputs as often as needed.

A runtime that raises, loading or running, has *refused* the model (:class:`Refused`, with its
message on one line): that is ``unsupported``, never ``fail``, which is kept for numbers that
are wrong. OpenVINO runs with ``INFERENCE_PRECISION_HINT=f32``: its CPU plugin otherwise
computes float32 models in bfloat16 where the processor has it, which is a precision setting,
not the operator; the report says so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rnninspect.base.errors import RuntimeUnavailable
from rnninspect.base.signals import interrupt_ends_at_once

#: The runtimes by their names on the command line, with the extra that installs each.
EXTRAS = {
    "onnxruntime": "onnx",
    "openvino": "openvino",
    "tract": "tract",
    "onnx-reference": "onnx",
}
RUNTIMES = tuple(EXTRAS)

Run = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


class Refused(Exception):
    """The runtime would not load or run the model; ``str()`` is its message, on one line."""

    def __init__(self, stage: str, exc: BaseException) -> None:
        self.stage = stage
        super().__init__(f"{stage}: {message_of(exc)}")


def message_of(exc: BaseException) -> str:
    """A runtime's error, on one line: tract's chain of causes without its backtrace, ONNX
    Runtime's without its status prefix and C++ source locations."""
    from rnninspect.core.runtimes.base import one_line as runtime_line

    text = str(exc).split("Stack backtrace:")[0].replace("Caused by:", "caused by:")
    return runtime_line(text or type(exc).__name__, 300)


class OperatorRuntime:
    """One runtime: its name, its version, and :meth:`load`, which returns the model's run
    function (named inputs in, the outputs by name out) or raises :class:`Refused`. ``outputs``
    are the names of the model's graph outputs, in order."""

    name = ""
    note = ""

    @property
    def version(self) -> str:
        raise NotImplementedError

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        raise NotImplementedError


class OnnxRuntime(OperatorRuntime):
    name = "onnxruntime"

    def __init__(self) -> None:
        try:
            with interrupt_ends_at_once():
                import onnxruntime
        except ImportError:
            raise _missing(self.name) from None
        self._ort = onnxruntime

    @property
    def version(self) -> str:
        return f"ONNX Runtime {self._ort.__version__} (CPUExecutionProvider)"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        options = self._ort.SessionOptions()
        options.log_severity_level = 4  # its errors come back as exceptions; no log on stderr
        options.intra_op_num_threads = 1
        try:
            session = self._ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise Refused("refused to load", exc) from None
        names = [o.name for o in session.get_outputs()]

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            try:
                values = session.run(None, dict(feeds))
            except Exception as exc:
                raise Refused("failed to run", exc) from None
            return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}

        return run


class OpenVino(OperatorRuntime):
    name = "openvino"
    note = "OpenVINO CPU with INFERENCE_PRECISION_HINT=f32 (its default may compute in bfloat16)"

    def __init__(self) -> None:
        try:
            with interrupt_ends_at_once():
                import openvino
        except ImportError:
            raise _missing(self.name) from None
        self._ov = openvino
        self._core: Any = None  # made where the models are compiled: a fork makes its own
        self._pid = 0

    @property
    def version(self) -> str:
        return f"OpenVINO {self._ov.get_version().split('-')[0]} (CPU, f32)"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        if self._core is None or self._pid != os.getpid():
            self._core, self._pid = self._ov.Core(), os.getpid()
        try:
            with _as_file(model) as path:
                compiled = self._core.compile_model(
                    path, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
                )
        except Exception as exc:
            raise Refused("refused to load", exc) from None
        # by position, as the model lists them: OpenVINO may name a port after the tensor a
        # folded node passed through (an h_n that is one layer's Y_h)
        ports = list(zip(compiled.outputs, outputs, strict=False))

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            try:
                results = compiled(dict(feeds))
            except Exception as exc:
                raise Refused("failed to run", exc) from None
            return {name: np.array(results[port]) for port, name in ports}

        return run


class Tract(OperatorRuntime):
    name = "tract"

    def __init__(self) -> None:
        try:
            with interrupt_ends_at_once():
                import tract
        except ImportError:
            raise _missing(self.name) from None
        self._tract = tract

    @property
    def version(self) -> str:
        return f"tract {self._tract.version()}"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        try:
            with _as_file(model) as path:
                inference = self._tract.onnx().load(path)
            inputs = [inference.input_name(i) for i in range(inference.input_count())]
            names = list(outputs)  # tract names its outputs after the nodes: by position
            runnable = inference.into_model().into_runnable()
        except Exception as exc:
            raise Refused("refused to load", exc) from None

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            try:
                values = runnable.run([feeds[name] for name in inputs])
                arrays = [value.to_numpy() for value in values]
            except Exception as exc:
                raise Refused("failed to run", exc) from None
            return dict(zip(names, arrays, strict=True))

        return run


class OnnxReference(OperatorRuntime):
    name = "onnx-reference"

    def __init__(self) -> None:
        try:
            with interrupt_ends_at_once():
                import onnx
                from onnx.reference import ReferenceEvaluator
        except ImportError:
            raise _missing(self.name) from None
        self._onnx, self._evaluator = onnx, ReferenceEvaluator

    @property
    def version(self) -> str:
        return f"onnx {self._onnx.__version__} ReferenceEvaluator"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        try:
            proto = self._onnx.load_from_string(model)
            evaluator = self._evaluator(proto)
        except Exception as exc:
            raise Refused("refused to load", exc) from None
        names = [o.name for o in proto.graph.output]

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            try:
                values = evaluator.run(None, dict(feeds))
            except Exception as exc:
                raise Refused("failed to run", exc) from None
            return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}

        return run


_CLASSES: dict[str, type[OperatorRuntime]] = {
    "onnxruntime": OnnxRuntime,
    "openvino": OpenVino,
    "tract": Tract,
    "onnx-reference": OnnxReference,
}


def runtime(name: str) -> OperatorRuntime:
    """The runtime of that name; :class:`RuntimeUnavailable` (exit 3) with the install line
    where its extra is not installed."""
    return _CLASSES[name]()


#: The module each runtime is imported as.
_MODULES = {
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "tract": "tract",
    "onnx-reference": "onnx",
}


def require(name: str) -> None:
    """Refuse (exit 3, with the install line) a runtime whose extra is not installed, without
    importing it: the runtime is imported in the workers that run it, never here."""
    import importlib.util

    if name not in _CLASSES:
        from rnninspect.base.errors import SpecError

        raise SpecError(f"--runtime {name}: the runtimes are {', '.join(RUNTIMES)}")
    if importlib.util.find_spec(_MODULES[name]) is None:
        raise _missing(name)


def _missing(name: str) -> RuntimeUnavailable:
    return RuntimeUnavailable(f"--runtime {name} needs pip install 'rnninspect[{EXTRAS[name]}]'")


class _as_file:
    """The model's bytes in a temporary file, for the runtimes that load from a path."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self.path = ""

    def __enter__(self) -> str:
        handle, self.path = tempfile.mkstemp(suffix=".onnx")
        with os.fdopen(handle, "wb") as out:
            out.write(self.model)
        return self.path

    def __exit__(self, *exc: Any) -> None:
        os.unlink(self.path)
