"""The numbers of a conformance case: its seeded weights and inputs, what the ONNX reference
says its outputs are, and each output judged.

Weights depend on the case alone (its model is built once), inputs on the case and the shape;
both are drawn from generators seeded by the case's name, so every run, every runtime and the
exported test data see the same numbers. The reference runs in float64; the same equations in
float32 give the noise floor, how far a correct float32 run can land from float64.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnninspect.core.parity import Tolerance, compare, default_tolerance, distance
from rnninspect.model.conformance import Case
from rnninspect.model.operator import RecurrentOp
from rnninspect.model.verdict import NOISE_FACTOR, Verdict
from rnninspect.reference.onnx import onnx_forward
from rnninspect.reports.conformance import OutputRow

TOLERANCE = default_tolerance(torch.float32)
FLOAT32 = np.dtype(np.float32)


def generator(*key: object) -> np.random.Generator:
    """numpy's generator seeded by ``key``: the same numbers for the same key, everywhere."""
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def lengths(rng: np.random.Generator, steps: int, batch: int) -> np.ndarray:
    """Lengths from 1 to L with the first sequence full and the others shorter, so both the
    frozen state and the zeroed Y past each length are seen; a batch of one gets L - 2."""
    if batch == 1:
        return np.array([max(1, steps - 2)])
    return np.concatenate([[steps], rng.integers(1, max(steps, 2), batch - 1)])


def case_weights(case: Case) -> dict[str, np.ndarray]:
    """W, R and, as the case has them, B and P: float32, each gate block drawn on its own."""
    node, rng = case.node, generator(case.name.split(" without ")[0], "weights")
    d, g, h = node.num_directions, node.gates, node.hidden_size
    draw = {
        "W": (d, g * h, case.input_size),
        "R": (d, g * h, h),
        "B": (d, 2 * g * h),
        "P": (d, 3 * h),
    }
    return {
        name: rng.uniform(-case.weight_scale, case.weight_scale, draw[name]).astype(np.float32)
        for name in case.weights
    }


def case_data(case: Case, steps: int, batch: int) -> dict[str, np.ndarray]:
    """X, and as the case has them sequence_lens (:func:`lengths`), initial_h and initial_c,
    at (L, N)."""
    node, rng = case.node, generator(case.name.split(" without ")[0], steps, batch)
    d, h = node.num_directions, node.hidden_size
    x_shape = (batch, steps, case.input_size) if node.layout else (steps, batch, case.input_size)
    state_shape = (batch, d, h) if node.layout else (d, batch, h)
    data = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    if case.sequence_lens:
        data["sequence_lens"] = np.minimum(lengths(rng, steps, batch), steps).astype(np.int32)
    if case.initial_state:
        data["initial_h"] = rng.standard_normal(state_shape).astype(np.float32)
        if case.op == "LSTM":
            data["initial_c"] = rng.standard_normal(state_shape).astype(np.float32)
    return data


def reference(
    case: Case, arrays: Mapping[str, np.ndarray], dtype: torch.dtype = torch.float64
) -> dict[str, np.ndarray]:
    """The outputs the case asks for, as ONNX's equations give them in ``dtype``; ``arrays``
    may hold more inputs than the case takes (a twin's), which are left out."""
    taken = set(case.weights) | set(case.data)
    given = {name: value for name, value in arrays.items() if name in taken}
    return node_reference(case.node, given, case.output_names, dtype)


def node_reference(
    node: RecurrentOp,
    arrays: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    dtype: torch.dtype = torch.float64,
) -> dict[str, np.ndarray]:
    """``outputs`` of one node on its inputs by ONNX's names, as the equations give them in
    ``dtype`` (``sequence_lens`` stays an integer)."""
    inputs = {
        name: torch.from_numpy(np.asarray(value)).to(
            torch.int64 if name == "sequence_lens" else dtype
        )
        for name, value in arrays.items()
    }
    found = onnx_forward(node, inputs)
    return {name: found[name].numpy() for name in outputs}


@dataclass(frozen=True)
class Expected:
    """The reference's outputs at one shape, and its float32 run for the noise floor."""

    exact: dict[str, np.ndarray]
    float32: dict[str, np.ndarray]


def expected(case: Case, arrays: Mapping[str, np.ndarray]) -> Expected:
    return Expected(reference(case, arrays), reference(case, arrays, torch.float32))


def judge(
    name: str,
    found: np.ndarray | None,
    want: Expected,
    shape: tuple[int, int],
    tolerance: Tolerance = TOLERANCE,
    axes: tuple[str, ...] = (),
    dtype: np.dtype[Any] = FLOAT32,
) -> OutputRow:
    """One output at one shape: ``pass`` within tolerance; ``inconclusive`` outside it but
    within NOISE_FACTOR noise floors; ``fail`` otherwise, or where the runtime gave no such
    output, another shape or another dtype."""
    exact = torch.from_numpy(want.exact[name])
    floor = distance(torch.from_numpy(want.float32[name]), exact) or 0.0
    if found is None:
        return _row(name, shape, tolerance, floor, problem="the runtime gave no such output")
    if found.dtype != dtype:
        return _row(name, shape, tolerance, floor, problem=f"dtype {found.dtype}, where {dtype}")
    actual = torch.from_numpy(np.ascontiguousarray(found)).to(exact.dtype)
    comparison = compare(actual, exact, tolerance)
    if comparison.problem is not None:
        return _row(name, shape, tolerance, floor, problem=comparison.problem)
    if comparison.exploded:
        verdict = Verdict.FAIL
    elif comparison.within():
        verdict = Verdict.PASS
    elif comparison.max_abs_err <= NOISE_FACTOR * floor:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.FAIL
    where = None
    if comparison.worst is not None and verdict != Verdict.PASS:
        where = (list(comparison.worst), comparison.actual, comparison.expected)
    return OutputRow(
        tensor=name,
        seq_len=shape[0],
        batch=shape[1],
        max_abs_err=comparison.max_abs_err,
        max_rel_err=comparison.max_rel_err,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        noise_floor=floor,
        verdict=str(verdict),
        worst=where,
        axes=axes,
    )


def _row(
    name: str, shape: tuple[int, int], tolerance: Tolerance, floor: float, problem: str
) -> OutputRow:
    return OutputRow(
        tensor=name,
        seq_len=shape[0],
        batch=shape[1],
        max_abs_err=math.nan,
        max_rel_err=math.nan,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        noise_floor=floor,
        verdict=str(Verdict.FAIL),
        problem=problem,
    )
