"""Comparing two runs: errors measured, tolerances per dtype, and the verdict of each row.

A row's verdict is one of three:

- ``pass``: the error is within ``atol * s + rtol * |expected|`` everywhere: torch.isclose's
  rule, with ``atol`` scaled by ``s``, the tensor's largest magnitude when that exceeds 1;
- ``inconclusive``: out of tolerance, but every single step agrees and the error is explained by
  the noise floor (how far a correct run in the same dtype lands from the float64 reference);
  rounding amplified by a chaotic recurrence, not a wrong kernel;
- ``fail``: out of tolerance otherwise, a value that exploded only on one side, or a gradient
  that one side has and the other lacks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnninspect.model.verdict import NOISE_FACTOR

#: Values beyond this fraction of a dtype's largest are out of its reliable range: the sums
#: that make them (pre-activations, gradient products) can exceed them, and a float16 result
#: whose float64 value is 27,000 can overflow on the way.
RANGE_MARGIN = 1 / 16


@dataclass(frozen=True)
class Tolerance:
    """``atol`` and ``rtol`` with where they came from, said in the report."""

    atol: float
    rtol: float
    source: str


def given_tolerance(base: Tolerance, atol: float | None, rtol: float | None) -> Tolerance:
    """``base`` (a dtype's default), with ``--atol``/``--rtol`` replacing whichever was given."""
    if atol is None and rtol is None:
        return base
    return Tolerance(
        base.atol if atol is None else atol,
        base.rtol if rtol is None else rtol,
        "given with --atol/--rtol",
    )


def default_tolerance(dtype: torch.dtype, tf32: bool = False, device: str = "cpu") -> Tolerance:
    """Tolerances against the float64 reference.

    float64 and float32 as ``torch.testing.assert_close``; float16 1e-2 and bfloat16 5e-2,
    because torch.testing's defaults for them fail most correct runs of a recurrence. On CUDA,
    float32 gets atol 5e-5 and rtol 1e-5: cuDNN's float32 RNN kernels (TF32 off) round about 30
    times more coarsely than the CPU's, measured on an H100 at up to 1.1 times torch.testing's
    tolerance over whole sequences and 2.9 times on single steps, while TF32 errors stay 5 to
    50 times above the wider tolerance. TF32 keeps 10 bits of mantissa, like float16, so float32
    with TF32 allowed gets float16's tolerance.
    """
    if dtype == torch.float64:
        return Tolerance(1e-7, 1e-7, "torch.testing default for float64")
    if dtype == torch.float32 and tf32:
        return Tolerance(1e-2, 1e-2, "float32 with TF32 allowed: widened to float16's 1e-2")
    if dtype == torch.float32 and device == "cuda":
        return Tolerance(
            5e-5, 1e-5, "rnninspect default for float32 on CUDA, where cuDNN rounds more coarsely"
        )
    if dtype == torch.float32:
        return Tolerance(1e-5, 1.3e-6, "torch.testing default for float32")
    if dtype == torch.float16:
        return Tolerance(1e-2, 1e-2, "rnninspect default for float16")
    if dtype == torch.bfloat16:
        return Tolerance(5e-2, 5e-2, "rnninspect default for bfloat16")
    raise ValueError(f"no default tolerance for {dtype}")


@dataclass(frozen=True)
class Comparison:
    """How far ``actual`` is from ``expected``, element by element.

    ``problem`` says why no error could be measured: a side that has no such tensor (a gradient
    that does not flow) or shapes that differ. ``exploded`` is true when either side holds inf
    or nan, and then no error is computed.
    ``worst`` is the index of the element furthest outside tolerance (or of the largest error).
    """

    max_abs_err: float
    max_rel_err: float
    excess: float
    worst: tuple[int, ...] | None = None
    actual: float | None = None
    expected: float | None = None
    exploded: bool = False
    problem: str | None = None

    def within(self) -> bool:
        return self.problem is None and not self.exploded and self.excess <= 1.0


def compare(actual: Tensor | None, expected: Tensor | None, tol: Tolerance) -> Comparison:
    """Measure ``actual`` against ``expected`` in float64; ``excess`` is the largest
    ``|a - e| / (atol * s + rtol * |e|)``, with ``s = max(1, max |e|)``, so the row passes
    when it is at most 1."""
    nan = math.nan
    if actual is None or expected is None:
        if expected is not None:
            problem = "the implementation has none; the reference has one"
        elif actual is not None:
            problem = "the reference has none; the implementation has one"
        else:
            problem = "neither side has one"
        return Comparison(nan, nan, math.inf, problem=problem)
    if actual.shape != expected.shape:
        problem = f"shape {list(actual.shape)}, where the reference has {list(expected.shape)}"
        return Comparison(nan, nan, math.inf, problem=problem)
    if actual.device.type == "meta":
        return Comparison(nan, nan, math.inf, problem="on device meta, which holds no values")
    a = actual.detach().to("cpu").flatten()
    e = expected.detach().to(device="cpu", dtype=torch.float64).flatten()
    if a.numel() == 0:
        return Comparison(0.0, 0.0, 0.0)
    diff = torch.sub(e, a).abs_()  # float64, as e is: |a - e| to the last bit
    magnitude = e.abs()
    # nan when some difference is (inf - inf, or a nan on either side), inf when one side is
    largest_diff, largest = torch.stack([diff.max(), magnitude.max()]).tolist()
    if not math.isfinite(largest_diff):
        flat = int((~torch.isfinite(diff)).nonzero()[0])
        index = _unravel(flat, actual.shape)
        return Comparison(nan, nan, math.inf, index, a[flat].item(), e[flat].item(), exploded=True)
    allowed = magnitude.mul(tol.rtol).add_(tol.atol * _scale(largest))
    ratio = diff / allowed if tol.atol > 0 or tol.rtol > 0 else diff * math.inf
    ratio.nan_to_num_(nan=0.0)
    flat = int(ratio.argmax())
    relative = torch.where(magnitude > 0, diff / magnitude, 0.0)
    # every other number the row needs, read back at once
    excess, rel, actual_value, expected_value = torch.stack(
        [ratio[flat], relative.max(), a[flat].to(e.dtype), e[flat]]
    ).tolist()
    if excess == 0:  # every difference is zero, or too small to register against the tolerance
        flat = int(diff.argmax())
        actual_value, expected_value = float(a[flat]), float(e[flat])
    return Comparison(
        max_abs_err=largest_diff,
        max_rel_err=rel,
        excess=excess,
        worst=_unravel(flat, actual.shape),
        actual=actual_value,
        expected=expected_value,
    )


def distance(actual: Tensor | None, expected: Tensor | None) -> float | None:
    """The largest ``|a - e|`` in float64, and nothing else: what a noise floor needs, in one
    pass where :func:`compare` makes several. ``inf`` when either side holds inf or nan; None
    when a side has no such tensor or the shapes differ."""
    if actual is None or expected is None or actual.shape != expected.shape:
        return None
    if actual.numel() == 0:
        return 0.0
    e = expected.detach().to(device="cpu", dtype=torch.float64)
    largest = float(torch.sub(e, actual.detach().to("cpu")).abs_().max())
    return largest if math.isfinite(largest) else math.inf


def compare_rows(
    found: Mapping[str, Tensor | None],
    expected: Mapping[str, Tensor | None],
    tolerance: Tolerance,
    dtype: torch.dtype,
    misshapen: Mapping[str, str] | None = None,
    device: torch.device | None = None,
) -> dict[str, Comparison]:
    """Every expected row, measured on what the tested side ``found``.

    A result in another dtype than the one asked for fails its row (its error is still
    shown): a kernel that computes in float32 when float64 was asked can land inside the
    float64 tolerance by luck of the data, never by design. So does a result on another
    device than ``device``, the one asked for. Where a result came back in the
    wrong shape (``misshapen``), no upstream gradient could be applied to it, so the gradient
    rows cannot be compared and say so.
    """
    rows = {}
    for name, reference in expected.items():
        value = found.get(name)
        comparison = compare(value, reference, tolerance)
        if value is not None and value.dtype != dtype and comparison.problem is None:
            problem = f"dtype {_dtype_name(value.dtype)}, where {_dtype_name(dtype)} was asked"
            comparison = dataclasses.replace(comparison, problem=problem)
        if value is not None and device is not None and not _same_device(value.device, device):
            problem = f"on device {value.device}, where {device} was asked"
            comparison = dataclasses.replace(comparison, problem=problem)
        if name.startswith("grad:") and misshapen:
            shapes = "; ".join(misshapen.values())
            problem = f"not comparable: {shapes}, so the upstream gradient could not be applied"
            comparison = Comparison(math.nan, math.nan, math.inf, problem=problem)
        rows[name] = comparison
    return rows


def _same_device(found: torch.device, asked: torch.device) -> bool:
    """``cuda:0`` is the ``cuda`` asked for; ``cuda:1`` is not ``cuda:0``."""
    if found.type != asked.type:
        return False
    return found.index is None or asked.index is None or found.index == asked.index


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _scale(largest: float) -> float:
    """The factor on ``atol``: the expected tensor's largest magnitude, when that exceeds 1.

    ``atol`` is meant for values of order one. A gradient that sums hundreds of such terms
    reaches tens or hundreds, and the rounding of a correct implementation grows with it:
    measured on an H100, cuDNN's float32 LSTM weight gradients (largest 35) differ from float64
    by 7e-5, inside ``1e-5 * 35`` but far outside a flat ``1e-5``.
    """
    return max(1.0, largest)


def _unravel(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


@dataclass(frozen=True)
class ParityRow:
    """One compared tensor (``output``, ``h_n``, ``grad:weight_hh_l0``, ...) and its verdict.

    ``noise_floor`` is how far the reference run in the implementation's dtype lands from the
    float64 one; ``noise_ratio`` how much noisier the implementation's single steps are than
    that reference's (1 when steps were not checked). Errors up to ``NOISE_FACTOR`` times their
    product are explained by rounding.
    """

    tensor: str
    comparison: Comparison
    tolerance: Tolerance
    noise_floor: float | None
    noise_ratio: float
    steps_agree: bool | None
    verdict: str
    reason: str
    baseline: Comparison | None = None
    finding: str | None = None  # a failing row's error as a whole (rnninspect.findings)

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        entry: dict[str, Any] = {
            "tensor": self.tensor,
            "max_abs_err": _number(c.max_abs_err),
            "max_rel_err": _number(c.max_rel_err),
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
            "ok": self.ok,
            "verdict": self.verdict,
            "noise_floor": _number(self.noise_floor),
            "noise_ratio": _number(self.noise_ratio),
            "excess": _number(c.excess),
            "exploded": c.exploded,
            "problem": c.problem,
            "steps_agree": self.steps_agree,
            "reason": self.reason,
            "worst_index": None if c.worst is None else list(c.worst),
            "worst_actual": _number(c.actual),
            "worst_expected": _number(c.expected),
            "finding": self.finding,
        }
        if self.baseline is not None:
            entry["torch_max_abs_err"] = _number(self.baseline.max_abs_err)
        return entry


def _number(value: float | None) -> float | str | None:
    """JSON has no inf or nan: say them as strings."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


@dataclass(frozen=True)
class Evidence:
    """What, beside a row's own error, its verdict rests on.

    ``floor``: the row's noise floor (:func:`distance` from the same-dtype reference run to the
    float64 one; inf when that run overflowed, None when there is none). ``steps_agree``: the
    step check's word (None when it did not run, or no step could be taken); ``noise_ratio``
    how much noisier the implementation's steps are than the same-dtype reference's.
    ``kinked`` marks a gradient through relu, whose derivative jumps at 0: rounding moves
    pre-activations across the kink, so a correct implementation's whole-sequence gradient can
    differ from the reference's by far more than any noise floor; when every single step agrees
    (each checked on the implementation's own branch), the row is inconclusive. ``packed``:
    the steps were checked one at a time on packed input, where faults in handling sequences
    of different lengths cannot show. ``no_step_in_range``: no single step could be checked,
    the float64 reference's values at every step lying beyond the dtype's largest.
    ``expected_out_of_range``: this row's float64 values reach beyond :data:`RANGE_MARGIN` of
    it, so a kernel in the dtype can overflow on the way to them. ``floor_runs``: how many
    same-dtype runs the floor is the largest distance of.
    """

    floor: float | None = None
    steps_agree: bool | None = None
    noise_ratio: float = 1.0
    kinked: bool = False
    packed: bool = False
    no_step_in_range: bool = False
    expected_out_of_range: bool = False
    floor_runs: int = 1

    def beyond_noise(self, comparison: Comparison) -> bool:
        """Every step agrees, yet the error is beyond NOISE_FACTOR noise floors (scaled by the
        noise ratio): a fault in the time loop, or a noise floor drawn low in a chaotic
        recurrence, which more draws tell apart (``noise.py``)."""
        if not self.steps_agree or self.floor is None or comparison.exploded:
            return False
        return comparison.max_abs_err > NOISE_FACTOR * self.floor * self.noise_ratio


def judge(
    tensor: str,
    comparison: Comparison,
    tolerance: Tolerance,
    evidence: Evidence | None = None,
    baseline: Comparison | None = None,
) -> ParityRow:
    """Give one row its verdict and the reason, in words, for anything but a pass."""
    e = evidence or Evidence()

    def row(verdict: str, reason: str) -> ParityRow:
        return ParityRow(
            tensor,
            comparison,
            tolerance,
            e.floor,
            e.noise_ratio,
            e.steps_agree,
            verdict,
            reason,
            baseline,
        )

    if comparison.problem is not None:
        return row("fail", comparison.problem)
    if comparison.within():
        return row("pass", "")
    if e.steps_agree is False:
        return row("fail", "a single step disagrees with the reference's step from the same state")
    if e.no_step_in_range:
        return row(
            "inconclusive",
            "no single step could be checked: the float64 reference's values at every step lie "
            "beyond this dtype's largest, so the computation overflows it; try a wider dtype",
        )
    if comparison.exploded and e.expected_out_of_range:
        return row(
            "inconclusive",
            "non-finite values where the float64 reference's reach beyond 1/16 of this dtype's "
            "largest: a kernel in it can overflow on the way; try a wider dtype",
        )
    if comparison.exploded:
        if e.floor == math.inf:
            agrees = "; every step agrees" if e.steps_agree else ""
            return row(
                "inconclusive",
                f"non-finite values, as in the reference run in the same dtype{agrees}: the "
                "computation overflows this dtype",
            )
        return row("fail", "non-finite values on one side only (exploded)")
    if e.steps_agree and e.kinked:
        return row(
            "inconclusive",
            "every step agrees on the implementation's own relu branches, but rounding moved "
            "pre-activations across relu's kink, where the gradient jumps; try float64",
        )
    if e.steps_agree and e.floor is not None and not e.beyond_noise(comparison):
        runs = "" if e.floor_runs == 1 else f", the largest of {e.floor_runs} runs"
        return row(
            "inconclusive",
            f"every step agrees, and the error is within {NOISE_FACTOR:g}x the noise floor "
            f"(scaled by how much noisier the implementation's steps are{runs}): rounding "
            "amplified by the recurrence; try float64 or a shorter sequence",
        )
    if e.steps_agree and e.packed:
        return row(
            "fail",
            "every step agrees when fed one at a time, but the whole packed batch does not: "
            "look at how the implementation handles sequences that end at different steps",
        )
    if e.steps_agree:
        runs = "" if e.floor_runs == 1 else f" (the largest of {e.floor_runs} runs)"
        return row("fail", f"every step agrees, but the error is far beyond the noise floor{runs}")
    return row("fail", "out of tolerance")
