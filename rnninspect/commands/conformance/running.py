"""One conformance case in one runtime: its model built, loaded once, run at every shape, and
every output judged against the ONNX reference.

A runtime that raises while loading or running a case has refused it (``unsupported``, with its
message); wrong numbers, a missing output, another shape or dtype are ``fail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnninspect.commands.conformance import numbers
from rnninspect.core.onnx_runtimes import OperatorRuntime, Refused
from rnninspect.core.parity import compare
from rnninspect.files.onnx_model import node_model, serialized
from rnninspect.model.conformance import SHAPES, Case, variants
from rnninspect.reports.conformance import CaseResult, OutputRow


def model_bytes(case: Case) -> bytes:
    """The case's single-node model, serialized."""
    return serialized(
        node_model(
            case.node,
            opset=case.opset,
            input_size=case.input_size,
            weights=numbers.case_weights(case),
            data=case.data,
            outputs=case.output_names,
        )
    )


@dataclass
class Expectations:
    """The reference's outputs by case and shape, computed once for every runtime."""

    found: dict[tuple[str, int, int], numbers.Expected] = field(default_factory=dict)

    def of(
        self, case: Case, shape: tuple[int, int], arrays: dict[str, np.ndarray]
    ) -> numbers.Expected:
        key = (case.name, *shape)
        if key not in self.found:
            self.found[key] = numbers.expected(case, arrays)
        return self.found[key]


def run_case(
    case: Case,
    chosen: OperatorRuntime,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    cache: Expectations | None = None,
    model: bytes | None = None,
) -> CaseResult:
    """One case in one runtime, at every shape (``model``: its model, already built)."""
    cache = cache or Expectations()
    header = describe_case(case)
    weights = numbers.case_weights(case)
    try:
        run = chosen.load(model or model_bytes(case), case.output_names)
    except Refused as refused:
        return CaseResult(**header, refusal=str(refused))
    rows: list[OutputRow] = []
    seen: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []  # (inputs, outputs)
    for shape in shapes:
        arrays = {**weights, **numbers.case_data(case, *shape)}
        feeds = {name: arrays[name] for name in case.data}
        try:
            found = run(feeds)
        except Refused as refused:
            return CaseResult(
                **header, rows=tuple(rows), refusal=f"at L={shape[0]} N={shape[1]}, {refused}"
            )
        want = cache.of(case, shape, arrays)
        seen.append((arrays, found))
        rows += [
            numbers.judge(name, found.get(name), want, shape, axes=case.node.axes(name))
            for name in case.output_names
        ]
    failed = any(row.verdict == "fail" for row in rows)
    return CaseResult(
        **header, rows=tuple(rows), diagnosis=diagnose(case, seen) if failed else None
    )


def diagnose(
    case: Case, seen: Sequence[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]
) -> str | None:
    """What the runtime computed instead, where its outputs are, at every shape, those of a
    wrong reading of the case (:func:`~rnninspect.model.conformance.variants`): the same model
    with an attribute ignored, or missing alpha and beta read as 0."""
    for meaning, variant in variants(case):
        try:
            matches = all(
                _within(found, numbers.reference(variant, arrays)) for arrays, found in seen
            )
        except (RuntimeError, IndexError):  # inputs that reading cannot take
            continue
        if matches:
            return meaning
    return None


def _within(found: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> bool:
    for name, value in expected.items():
        got = found.get(name)
        if got is None or got.shape != value.shape:
            return False
        comparison = compare(
            torch.from_numpy(np.ascontiguousarray(got)), torch.from_numpy(value), numbers.TOLERANCE
        )
        if not comparison.within():
            return False
    return True


def describe_case(case: Case) -> dict[str, Any]:
    """What a result says of its case: name, operator, opset and attributes."""
    return {"name": case.name, "op": case.op, "opset": case.opset, "attributes": _attributes(case)}


def _attributes(case: Case) -> str:
    extra = ["B"] * case.bias + ["P"] * case.peepholes + ["initial state"] * case.initial_state
    extra += ["sequence_lens"] * case.sequence_lens
    if case.outputs:
        extra.append("outputs " + ", ".join(case.outputs))
    return "; ".join([case.node.describe(), ", ".join(extra) or "no optional inputs"])
