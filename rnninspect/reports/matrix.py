"""``rnninspect matrix``: the cases, what verifying each gave, and the counts.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rnninspect.model.spec import RNNSpec
from rnninspect.model.verdict import Verdict
from rnninspect.reports.verify import VerifyReport

if TYPE_CHECKING:
    from rnninspect.core.options import VerifyOptions


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
        return Verdict.accepted(self.verdict, allow_inconclusive)

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
                    f"noise floor {_rounded(row.noise_floor)}; "
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


def _rounded(value: float | None) -> str:
    """A measured error as the rows print theirs: three significant figures."""
    return "n/a" if value is None or value != value else f"{value:.3g}"
