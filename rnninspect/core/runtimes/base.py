"""What every runtime provides: an artefact made once, run on given inputs, and its limits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnninspect.base.errors import RuntimeUnavailable as RuntimeUnavailable
from rnninspect.model.spec import RNNSpec

#: Named inputs (``input``, ``h0``, ``c0``) of a configuration (its shapes and packing) to
#: named results (``output``, ``h_n``, ...).
ArtefactRun = Callable[[Mapping[str, Tensor], RNNSpec], dict[str, Tensor]]


@dataclass(frozen=True)
class RuntimeOptions:
    """How the runtimes make and run their artefacts: the ONNX exporter, torch.compile's
    backend and fullgraph, the second shape every artefact runs at (None: L+3, N+1), and where
    the exported file is kept (``--save-artifact``)."""

    exporter: str | None = None
    compile_backend: str | None = None
    fullgraph: bool = False
    other_seq_len: int | None = None
    other_batch: int | None = None
    save_artifact: str | None = None


@dataclass
class Prepared:
    """A runtime's artefact, ready to run.

    ``gradients`` says whether gradients flow through ``run`` (to the inputs and to
    ``parameters``, by torch's names); ``detail`` what ran (``torch.compile, backend
    inductor``); ``artifact`` the bytes of a file the user may keep (``--save-artifact``);
    ``compiled``, for ``compile``, what dynamo captured (graphs, ops, breaks and reasons).
    """

    run: ArtefactRun
    gradients: bool
    detail: str
    parameters: dict[str, Tensor] = field(default_factory=dict)
    artifact: bytes | None = None
    suffix: str = ""
    compiled: dict[str, Any] | None = None  # what torch.compile's dynamo captured
    zero_state: bool = False  # it takes no initial state: it is run, and judged, from zeros
    results: tuple[str, ...] | None = None  # the results it gives, where fewer than torch's


class RuntimeFailed(Exception):
    """The runtime refused the module or failed to run it: a failing verdict, with its message."""

    def __init__(self, stage: str, error: BaseException | str) -> None:
        self.stage = stage
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"{stage}: {one_line(text)}")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


#: Where a runtime's message turns from what went wrong to general advice, and asides in it.
_ADVICE = re.compile(
    r"\s(?:If you're using|Suggested fixes|Next steps|Please fix|The error above occurred)"
)
_ASIDE = re.compile(r"\s*For more information, run with \S+\.?\s*(?:-\s*)?")

#: Where in its own C++ source a runtime raised (``/onnxruntime_src/.../reshape_helper.h:84
#: onnxruntime::ReshapeHelper::ReshapeHelper(const ...&, bool)``), and ONNX Runtime's status
#: prefix (``[ONNXRuntimeError] : 1 : FAIL :``): nothing a user acts on.
_SOURCE = re.compile(r"\s*\S*/\S+\.(?:h|hpp|cc|cpp|c|cu):\d+(?:\s+[\w:~<>]+\([^()]*\))?")
_STATUS = re.compile(r"\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")


def one_line(text: str, longest: int = 300) -> str:
    """A runtime's message in one line: colour codes, source locations and the advice that
    follows it dropped. A message still too long keeps its start (what failed, which node)
    and its end, where runtimes name the shapes (``Input shape:{8,4,1,20}, requested
    shape:{5,-1,20}``), with ``...`` between."""
    line = _ASIDE.sub(" ", " ".join(_ANSI.sub("", text).split()))
    line = _STATUS.sub("", _SOURCE.sub("", line))
    line = _ADVICE.split(line, maxsplit=1)[0].rstrip(" .:-")
    if len(line) <= longest:
        return line
    half = (longest - 5) // 2
    return f"{line[:half].rstrip()} ... {line[-half:].lstrip()}"


def call(module: nn.Module | Callable[..., object]) -> ArtefactRun:
    """Call a torch-style module with the contract's named inputs, as verify calls torch's
    (packed with the configuration's lengths, the output padded back); name its results."""
    from rnninspect.core.build import UnexpectedResult, run_module

    def run(inputs: Mapping[str, Tensor], shaped: RNNSpec) -> dict[str, Tensor]:
        try:
            return run_module(module, shaped, dict(inputs))  # type: ignore[arg-type]
        except UnexpectedResult as exc:
            raise RuntimeFailed("run", f"its forward {exc}") from None

    return run


def name_results(result: object, spec: RNNSpec) -> dict[str, Tensor]:
    """A forward's return value (torch's structure, or a flat sequence) by the contract's names."""
    from rnninspect.core.build import result_names

    names = result_names(spec)
    flat = list(_flatten(result))
    if len(flat) != len(names):
        raise RuntimeFailed("run", f"returned {len(flat)} tensors, where {len(names)} are expected")
    return dict(zip(names, flat, strict=True))


def _flatten(value: object) -> list[Tensor]:
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [tensor for item in value for tensor in _flatten(item)]
    return [value]  # type: ignore[list-item]
