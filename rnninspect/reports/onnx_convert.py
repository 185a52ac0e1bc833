"""``rnninspect convert FILE --to onnx``: the graph written, and the staged file's runs in each
runtime at every shape, judged against the reference, before it was written.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnninspect.reports.onnx_file import Check, worst


@dataclass(frozen=True)
class RuntimeCheck:
    """The staged file in one runtime: every shape's rows, or its refusal or crash."""

    runtime: str
    version: str
    check: Check

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "version": self.version, **self.check.to_dict()}


@dataclass(frozen=True)
class OnnxConvertReport:
    """What was read, the graph made of it, and whether every runtime ran it right."""

    source: str
    output: str
    spec: str
    opset: int
    versions: dict[str, str]
    #: one line per recurrent node: ``lstm_l0: LSTM hidden 20, bidirectional``
    nodes: tuple[str, ...]
    #: the graph's inputs and outputs, each ``name [dims]`` with L and N symbolic
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    runtimes: tuple[RuntimeCheck, ...]
    written: bool
    notes: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return worst([run.check.verdict for run in self.runtimes])

    @property
    def ok(self) -> bool:
        return self.written

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "to": "onnx",
            "written": self.written,
            "spec": self.spec,
            "opset": self.opset,
            "versions": self.versions,
            "nodes": list(self.nodes),
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "shapes": [{"seq_len": s, "batch": n} for s, n in self.shapes],
            "runtimes": [run.to_dict() for run in self.runtimes],
            "notes": list(self.notes),
            "verdict": self.verdict,
            "ok": self.ok,
        }
