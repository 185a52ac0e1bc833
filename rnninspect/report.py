"""One result object per command; ``to_dict()`` is the JSON of the contract.

A report holds what was measured on the real module beside what the shape model predicted, so
every view of it (table, JSON, markdown) shows the same facts. No torch import.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect import __version__
from rnninspect.memory import MemoryEstimate
from rnninspect.shapes import FlopCount, ParameterShape, TensorShape
from rnninspect.spec import RNNSpec

if TYPE_CHECKING:
    from rnninspect.diagnose import Problem
    from rnninspect.infer import Inconsistent, Inferred
    from rnninspect.keras import WeightMap
    from rnninspect.parity import ParityRow, Tolerance
    from rnninspect.runtime_checks import RuntimeResult
    from rnninspect.steps import StepParity
    from rnninspect.timing import RatioRounds, Timing
    from rnninspect.verification import VerifyOptions


def versions(torch_version: str) -> dict[str, str]:
    """The contract's ``versions``: rnninspect, torch and python."""
    return {"rnninspect": __version__, "torch": torch_version, "python": platform.python_version()}


@dataclass(frozen=True)
class Measured:
    """A tensor or parameter as torch produced it, beside the shape model's prediction."""

    predicted: TensorShape | ParameterShape | None
    name: str
    shape: tuple[int, ...] | None

    @property
    def numel(self) -> int:
        """Elements in the measured tensor; 0 for one torch did not produce."""
        return 0 if self.shape is None else math.prod(self.shape)

    @property
    def agrees(self) -> bool:
        return self.predicted is not None and self.predicted.shape == self.shape

    def disagreement(self, kind: str) -> str:
        predicted = "absent" if self.predicted is None else list(self.predicted.shape)
        measured = "absent" if self.shape is None else list(self.shape)
        return f"{kind} {self.name}: shape model says {predicted}, torch built {measured}"


@dataclass(frozen=True)
class ShapesReport:
    """``rnninspect shapes``: every tensor and parameter of one forward pass of the real module."""

    spec: RNNSpec
    versions: dict[str, str]
    tensors: list[Measured]
    parameters: list[Measured]
    memory: MemoryEstimate
    memory_limit: int
    warnings: list[str] = field(default_factory=list)
    computed_on: str = "meta"

    @property
    def total_params(self) -> int:
        return sum(row.numel for row in self.parameters)

    @property
    def mismatches(self) -> list[str]:
        """Every place where the shape model and torch disagree; empty when all is well."""
        return [row.disagreement("tensor") for row in self.tensors if not row.agrees] + [
            row.disagreement("parameter") for row in self.parameters if not row.agrees
        ]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "tensors": [_tensor_dict(row) for row in self.tensors],
            "parameters": [_parameter_dict(row) for row in self.parameters],
            "total_params": self.total_params,
            "computed_on": self.computed_on,
            "memory": {
                "parameters_bytes": self.memory.parameters,
                "tensors_bytes": self.memory.tensors,
                "workspace_bytes": self.memory.workspace,
                "shapes_bytes": self.memory.shapes,
                "verify_bytes": self.memory.verify,
                "limit_bytes": self.memory_limit,
            },
            "warnings": self.warnings,
            "mismatches": self.mismatches,
            "ok": self.ok,
        }


def _list(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def _tensor_dict(row: Measured) -> dict[str, Any]:
    dims = []
    if isinstance(row.predicted, TensorShape):
        dims = [
            {"size": dim.size, "symbol": dim.symbol, "meaning": dim.meaning}
            for dim in row.predicted.dims
        ]
    return {"name": row.name, "shape": _list(row.shape), "dims": dims}


def _parameter_dict(row: Measured) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": row.name, "shape": _list(row.shape), "numel": row.numel}
    if isinstance(row.predicted, ParameterShape):
        predicted = row.predicted
        entry |= {"layer": predicted.layer, "direction": predicted.direction}
        entry |= {"rows": predicted.rows, "cols": predicted.cols}
    return entry


@dataclass(frozen=True)
class VerifyReport:
    """``rnninspect verify``: parity rows of the implementation under test against the reference."""

    spec: RNNSpec
    versions: dict[str, str]
    device: dict[str, str | bool | None]
    dtype: str
    reference_dtype: str
    tf32: bool | None
    tolerance: Tolerance
    rows: list[ParityRow]
    steps: StepParity | None
    timing: dict[str, Timing]
    notes: list[str]
    warnings: list[str]
    impl: str | None
    weight_scale: float
    zero_state: bool
    weights_source: str | None = None
    runtimes: list[RuntimeResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``fail`` if any row fails (a runtime's included), else ``inconclusive`` if any is,
        else ``pass``."""
        verdicts = {row.verdict for row in self.rows}
        verdicts |= {result.verdict for result in self.runtimes}
        for verdict in ("fail", "inconclusive"):
            if verdict in verdicts:
                return verdict
        return "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        steps = None
        if self.steps is not None:
            s = self.steps
            steps = {
                "steps": s.steps,
                "forward_ok": s.forward_ok,
                "forward_excess": _finite(s.forward.excess),
                "forward_worst": s.forward.where,
                "backward_ok": s.backward_ok,
                "backward_excess": _finite(s.backward.excess),
                "backward_worst": s.backward.where,
                "reference_forward_excess": _finite(s.reference_forward.excess),
                "reference_backward_excess": _finite(s.reference_backward.excess),
            }
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "device": self.device["device"],
            "device_info": self.device,
            "dtype": self.dtype,
            "reference_dtype": self.reference_dtype,
            "tf32": self.tf32,
            "impl": self.impl,
            "weights": self.weights_source,
            "weight_scale": self.weight_scale,
            "zero_state": self.zero_state,
            "tolerance_source": self.tolerance.source,
            "parity": [row.to_dict() for row in self.rows],
            "steps": steps,
            "runtimes": [result.to_dict() for result in self.runtimes],
            "timing": {name: timing.to_dict() for name, timing in self.timing.items()},
            "notes": self.notes,
            "warnings": self.warnings,
            "verdict": self.verdict,
            "ok": self.ok,
        }


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


@dataclass(frozen=True)
class SweepPoint:
    """One value of a swept setting and the benchmark taken there."""

    value: int
    report: BenchReport


@dataclass(frozen=True)
class BenchReport:
    """``rnninspect bench``: timings of torch's module and the reference, FLOPs, memory."""

    spec: RNNSpec
    versions: dict[str, str]
    device: dict[str, str | bool | None]
    dtype: str
    threads: int
    backward: bool
    tf32: bool | None
    timing: dict[str, Timing]
    without_cudnn: dict[str, Timing]
    flops: FlopCount
    peak_gflops: float | None
    memory: MemoryEstimate
    peak_bytes: dict[str, int]
    warnings: list[str]
    weights_source: str | None = None
    sweep_name: str | None = None
    sweep: list[SweepPoint] = field(default_factory=list)
    sweep_warning: str | None = None
    runtime_details: dict[str, str] = field(default_factory=dict)
    runtime_errors: dict[str, str] = field(default_factory=dict)
    impl_ratios: dict[str, RatioRounds] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Valid time steps of all sequences in one forward pass."""
        return self.spec.tokens

    @property
    def ratio(self) -> float:
        """Reference time over module time, forward."""
        return self.timing["reference"].median_ms / self.timing["module"].median_ms

    def gflops(self, side: str) -> float:
        """Achieved GFLOP/s of one side's forward pass."""
        return self.flops.flops / (self.timing[side].median_ms * 1e-3) / 1e9

    def tokens_per_s(self, side: str) -> float:
        return self.tokens / (self.timing[side].median_ms * 1e-3)

    def exponents(self) -> dict[str, float]:
        """The fitted growth k of ``time ~ value^k`` of each timed side, over the sweep."""
        if len(self.sweep) < 2:
            return {}
        values = [point.value for point in self.sweep]
        return {
            side: growth_exponent(values, [p.report.timing[side].median_ms for p in self.sweep])
            for side in self.timing
        }

    def _measurement(self) -> dict[str, Any]:
        sides = [side for side in self.timing if not side.endswith("_backward")]
        entry: dict[str, Any] = {
            "timing": {name: timing.to_dict() for name, timing in self.timing.items()},
            "ratio": self.ratio,
            "impl_ratio": {name: rounds.to_dict() for name, rounds in self.impl_ratios.items()},
            "tokens_per_s": {side: self.tokens_per_s(side) for side in sides},
            "flops": self.flops.flops,
            "macs": self.flops.macs,
            "elementwise_ops": self.flops.elementwise,
            "gflops_per_s": {side: self.gflops(side) for side in sides},
        }
        if self.peak_gflops is not None:
            entry["percent_of_peak"] = {
                side: 100 * self.gflops(side) / self.peak_gflops for side in sides
            }
        if self.without_cudnn:
            entry["timing_without_cudnn"] = {
                name: timing.to_dict() for name, timing in self.without_cudnn.items()
            }
        entry["memory"] = {
            "estimate_forward_bytes": self.memory.shapes,
            "estimate_backward_bytes": self.memory.verify,
            "peak_forward_bytes": self.peak_bytes.get("forward"),
            "peak_backward_bytes": self.peak_bytes.get("backward"),
        }
        return entry

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "device": self.device["device"],
            "device_info": self.device,
            "dtype": self.dtype,
            "threads": self.threads,
            "backward": self.backward,
            "tf32": self.tf32,
            "weights": self.weights_source,
            **self._measurement(),
            "runtime_details": self.runtime_details,
            "runtime_errors": self.runtime_errors,
            "warnings": self.warnings,
        }
        if self.sweep:
            result["sweep"] = {
                "name": self.sweep_name,
                "values": [point.value for point in self.sweep],
                "points": [
                    {
                        "value": point.value,
                        "config": point.report.spec.to_dict(),
                        **point.report._measurement(),
                    }
                    for point in self.sweep
                ],
                "exponent": self.exponents(),
                "warning": self.sweep_warning,
            }
        return result


def growth_exponent(values: list[int], times: list[float]) -> float:
    """The least-squares slope of log(time) against log(value): ``time ~ value^k``."""
    xs = [math.log(v) for v in values]
    ys = [math.log(t) for t in times]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


@dataclass(frozen=True)
class Case:
    """One configuration to verify, validated."""

    name: str
    spec: RNNSpec
    options: VerifyOptions


@dataclass(frozen=True)
class CaseResult:
    """What verifying one case gave: a report, or the error the implementation raised."""

    case: Case
    report: VerifyReport | None
    error: str | None
    seconds: float

    @property
    def verdict(self) -> str:
        if self.report is None:
            return "fail"
        return self.report.verdict

    def passed(self, allow_inconclusive: bool) -> bool:
        allowed = ("pass", "inconclusive") if allow_inconclusive else ("pass",)
        return self.verdict in allowed

    @property
    def worst_error(self) -> float | None:
        if self.report is None or not self.report.rows:
            return None
        return max(row.comparison.max_abs_err for row in self.report.rows)

    def failing_rows(self) -> list[str]:
        """One line per row that did not pass, for the summary and the JUnit failure."""
        if self.report is None:
            return [self.error or "no report"]
        lines = []
        for row in self.report.rows:
            if row.verdict != "pass":
                c = row.comparison
                lines.append(
                    f"{row.tensor}: {row.verdict}, max_abs_err {c.max_abs_err:.3g} "
                    f"(atol {row.tolerance.atol:g}, rtol {row.tolerance.rtol:g}), "
                    f"noise floor {row.noise_floor if row.noise_floor is not None else 'n/a'}; "
                    f"{row.reason}"
                )
        for result in self.report.runtimes:
            if result.verdict != "pass":
                where = f"{result.runtime} at L={result.seq_len}, N={result.batch}"
                failing = [row.tensor for row in result.rows if row.verdict != "pass"]
                lines.append(f"{where}: {result.error or 'fails ' + ', '.join(failing)}")
        return lines


@dataclass
class MatrixReport:
    """``rnninspect matrix``: one result per case, in file order; ``skipped`` after --fail-fast."""

    path: str
    versions: dict[str, str]
    device: str
    dtype: str
    allow_inconclusive: bool
    results: list[CaseResult] = field(default_factory=list)
    skipped: list[Case] = field(default_factory=list)
    seconds: float = 0.0
    jobs: int = 1
    shard: str | None = None  # "K/N" with --shard

    def count(self, verdict: str) -> int:
        """How many cases came out ``pass``, ``fail`` or ``inconclusive``."""
        return sum(result.verdict == verdict for result in self.results)

    @property
    def passed(self) -> int:
        return self.count("pass")

    @property
    def failed(self) -> int:
        return self.count("fail")

    @property
    def inconclusive(self) -> int:
        return self.count("inconclusive")

    @property
    def ok(self) -> bool:
        """Every case ran and passed, or was inconclusive with ``allow_inconclusive``."""
        return not self.skipped and all(
            result.passed(self.allow_inconclusive) for result in self.results
        )

    def to_dict(self) -> dict[str, Any]:
        cases = []
        for result in self.results:
            report = result.report
            cases.append(
                {
                    "name": result.case.name,
                    "config": result.case.spec.to_dict(),
                    "spec": result.case.spec.to_spec_string(),
                    "impl": result.case.options.impl,
                    "device": result.case.options.device,
                    "dtype": result.case.options.dtype,
                    "ok": result.passed(self.allow_inconclusive),
                    "verdict": result.verdict,
                    "error": result.error,
                    "seconds": result.seconds,
                    "parity": [] if report is None else [row.to_dict() for row in report.rows],
                    "notes": [] if report is None else report.notes,
                }
            )
        cases += [
            {"name": case.name, "config": case.spec.to_dict(), "verdict": "skipped", "ok": False}
            for case in self.skipped
        ]
        return {
            "file": self.path,
            "versions": self.versions,
            "device": self.device,
            "dtype": self.dtype,
            "cases": cases,
            "passed": self.passed,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "allow_inconclusive": self.allow_inconclusive,
            "skipped": len(self.skipped),
            "seconds": self.seconds,
            "jobs": self.jobs,
            "shard": self.shard,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class InferReport:
    """``rnninspect infer``: the recurrent modules found in one checkpoint."""

    path: str
    versions: dict[str, str]
    modules: list[Inferred | Inconsistent]
    tensors: int
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> list[Inferred]:
        from rnninspect.infer import Inferred

        return [m for m in self.modules if isinstance(m, Inferred)]

    @property
    def ok(self) -> bool:
        """At least one module, and every recurrent-looking group consistent."""
        return bool(self.modules) and len(self.found) == len(self.modules)

    def to_dict(self) -> dict[str, Any]:
        from rnninspect.infer import summary

        return {
            "file": self.path,
            "versions": self.versions,
            "tensors": self.tensors,
            "modules": [summary(module) for module in self.modules],
            "notes": self.notes,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class ExplainReport:
    """``rnninspect explain``: equations, shapes, the unrolled network and checked relations."""

    shapes: ShapesReport
    equations: list[str]
    diagram: list[str]
    relations: list[Any]
    notes: list[str]
    h_n_rows: list[str] = field(default_factory=list)

    @property
    def spec(self) -> RNNSpec:
        return self.shapes.spec

    @property
    def ok(self) -> bool:
        """The shape model agrees with torch, every relation holds and every pitfall differs."""
        return self.shapes.ok and all(relation.as_expected for relation in self.relations)

    def to_dict(self) -> dict[str, Any]:
        base = self.shapes.to_dict()
        return {
            "config": base["config"],
            "spec": base["spec"],
            "versions": base["versions"],
            "equations": self.equations,
            "tensors": base["tensors"],
            "parameters": base["parameters"],
            "total_params": base["total_params"],
            "diagram": self.diagram,
            "h_n_rows": self.h_n_rows,
            "relations": [relation.to_dict() for relation in self.relations],
            "notes": self.notes,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class DiagnoseReport:
    """``rnninspect diagnose``: whether the given shapes fit the module, and each misfit."""

    spec: RNNSpec
    versions: dict[str, str]
    shapes: dict[str, tuple[int, ...] | None]
    problems: list[Problem]
    torch_ran: bool
    torch_error: str | None
    torch_note: str | None = None

    @property
    def fits(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": self.versions,
            "shapes": {k: None if v is None else list(v) for k, v in self.shapes.items()},
            "fits": self.fits,
            "problems": [problem.to_dict() for problem in self.problems],
            "torch_ran": self.torch_ran,
            "torch_error": self.torch_error,
            "torch_note": self.torch_note,
        }


@dataclass(frozen=True)
class KerasReport:
    """``rnninspect keras``: the Keras layers, the weight mapping, and with --check both run."""

    spec: RNNSpec
    versions: dict[str, str]
    code: list[str]
    mapping: list[WeightMap]
    notes: list[str]
    limits: list[str]
    rows: list[ParityRow] | None = None
    keras_version: str | None = None
    reset_after: bool | None = None  # the Keras GRU setting; None for RNN and LSTM

    @property
    def ok(self) -> bool:
        """No limit, and with --check every row passes."""
        return not self.limits and all(row.ok for row in self.rows or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.spec.to_dict(),
            "spec": self.spec.to_spec_string(),
            "versions": {**self.versions, "keras": self.keras_version},
            "keras_code": self.code,
            "reset_after": self.reset_after,
            "mapping": [row.to_dict() for row in self.mapping],
            "notes": self.notes,
            "limits": self.limits,
            "parity": None if self.rows is None else [row.to_dict() for row in self.rows],
            "ok": self.ok,
        }


@dataclass(frozen=True)
class ConvertedModule:
    """One torch module and the Keras layers it was converted to or from, run in both."""

    prefix: str
    keras_layers: list[str]
    spec: RNNSpec
    mapping: list[WeightMap]
    rows: list[ParityRow]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "torch_prefix": self.prefix,
            "keras_layers": self.keras_layers,
            "spec": self.spec.to_spec_string(),
            "mapping": [row.to_dict() for row in self.mapping],
            "parity": [row.to_dict() for row in self.rows],
            "ok": self.ok,
        }


@dataclass(frozen=True)
class ConvertReport:
    """``rnninspect convert``: what was converted, how, and whether both frameworks agree on
    the file written; ``written`` is false when a module failed and nothing was written."""

    source: str
    to: str
    output: str
    versions: dict[str, str]
    modules: list[ConvertedModule]
    notes: list[str]
    written: bool

    @property
    def ok(self) -> bool:
        return self.written and all(module.ok for module in self.modules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "to": self.to,
            "output": self.output,
            "written": self.written,
            "versions": self.versions,
            "modules": [module.to_dict() for module in self.modules],
            "notes": self.notes,
            "ok": self.ok,
        }
