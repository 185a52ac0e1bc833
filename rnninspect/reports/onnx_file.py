"""``rnninspect verify --onnx FILE`` without ``--weights``: each recurrent node of a user's ONNX
file, run in a runtime alone and inside the whole graph, against the ONNX equations.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rnninspect.reports.conformance import OutputRow

#: A node or a run is one of these, worst first: ``unsupported`` where the runtime refused the
#: model, ``unchecked`` where rnninspect could not check it (weights computed by the graph, an
#: attribute it cannot read), said, never called a pass.
ORDER = ("fail", "unsupported", "unchecked", "inconclusive", "pass")


def worst(verdicts: list[str]) -> str:
    return min(verdicts, key=ORDER.index) if verdicts else "pass"


@dataclass(frozen=True)
class Check:
    """One run of one node: its rows, or the runtime's refusal, or how its process ended."""

    rows: tuple[OutputRow, ...] = ()
    refusal: str | None = None
    crash: str | None = None

    @property
    def verdict(self) -> str:
        if self.crash is not None:
            return "fail"
        judged = worst([row.verdict for row in self.rows])
        if judged != "fail" and self.refusal is not None:
            return "unsupported"
        return judged

    def message(self) -> str | None:
        if self.crash is not None:
            return self.crash
        failing = [row for row in self.rows if row.verdict == "fail"]
        if failing:
            return failing[0].line()
        return self.refusal

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "message": self.message(),
            "rows": [row.to_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class NodeResult:
    """A recurrent node: what the file says of it, and its two runs."""

    node: str
    op: str
    attributes: str
    #: (the operator's input, the file's tensor, its shape) for W, R and any B, P
    weights: tuple[tuple[str, str, tuple[int, ...]], ...]
    #: why rnninspect cannot check it; then neither run happened
    problem: str | None = None
    alone: Check | None = None
    #: None where the whole graph was not run (the report says why)
    in_graph: Check | None = None

    @property
    def verdict(self) -> str:
        if self.problem is not None:
            return "unchecked"
        return worst([run.verdict for run in (self.alone, self.in_graph) if run is not None])

    @property
    def worst_error(self) -> float | None:
        rows = [row for run in (self.alone, self.in_graph) if run is not None for row in run.rows]
        errors = [row.max_abs_err for row in rows if not math.isnan(row.max_abs_err)]
        return max(errors) if errors else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op": self.op,
            "attributes": self.attributes,
            "weights": [
                {"input": position, "tensor": name, "shape": list(shape)}
                for position, name, shape in self.weights
            ],
            "problem": self.problem,
            "alone": None if self.alone is None else self.alone.to_dict(),
            "in_graph": None if self.in_graph is None else self.in_graph.to_dict(),
            "worst_abs_err": self.worst_error,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class RuntimeNodes:
    """Every node of the file in one runtime."""

    runtime: str
    version: str
    nodes: tuple[NodeResult, ...]
    #: the shapes the whole graph ran at, and why it did not run where it did not
    graph_shapes: tuple[tuple[int, int], ...] = ()
    graph_not_run: str | None = None
    graph_inputs: dict[str, list[int | str]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """The worst node's; ``unchecked`` at best where the whole file was not run: a node
        run alone is a model rnninspect made of it, not the file as the user has it."""
        graph = ["unchecked"] if self.graph_not_run is not None else []
        return worst([*(node.verdict for node in self.nodes), *graph])

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "version": self.version,
            "graph": {
                "ran": self.graph_not_run is None,
                "shapes": [{"seq_len": s, "batch": n} for s, n in self.graph_shapes],
                "inputs": [
                    {"name": name, "dims": dims} for name, dims in self.graph_inputs.items()
                ],
                "not_run": self.graph_not_run,
            },
            "nodes": [node.to_dict() for node in self.nodes],
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class OnnxFileReport:
    """The file, the shapes and seed it was checked at, and each runtime's nodes."""

    file: str
    opset: int
    versions: dict[str, str]
    shapes: tuple[tuple[int, int], ...]
    seed: int
    runtimes: tuple[RuntimeNodes, ...]
    notes: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return worst([run.verdict for run in self.runtimes])

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "verify",
            "onnx": self.file,
            "opset": self.opset,
            "versions": self.versions,
            "shapes": [{"seq_len": s, "batch": n} for s, n in self.shapes],
            "seed": self.seed,
            "runtimes": [run.to_dict() for run in self.runtimes],
            "notes": list(self.notes),
            "verdict": self.verdict,
            "ok": self.ok,
        }
