"""``rnninspect conformance``: each runtime's verdict on every case, and why.

Plain dataclasses; ``to_dict()`` is the command's JSON. No torch import.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rnninspect.model.verdict import Verdict

#: A case's verdicts: a runtime that refused the model is ``unsupported``, never ``fail``.
UNSUPPORTED = "unsupported"
VERDICTS = ("pass", "fail", "inconclusive", UNSUPPORTED)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class OutputRow:
    """One output of one case at one (L, N), measured against the reference."""

    tensor: str
    seq_len: int
    batch: int
    max_abs_err: float
    max_rel_err: float
    atol: float
    rtol: float
    noise_floor: float
    verdict: str
    problem: str | None = None
    #: where the error is largest: the index, the runtime's value and the reference's
    worst: tuple[list[int], float | None, float | None] | None = None
    #: what each index of the tensor counts (t step, d direction, n batch, h unit)
    axes: tuple[str, ...] = ()

    def line(self) -> str:
        """What went wrong, in one line: ``at L=5 N=2, Y_h[d=1, n=0, h=2] is 0.31 where the
        equations give 0.12 (error 0.19)``."""
        head = f"{self.tensor} at L={self.seq_len} N={self.batch}"
        if self.problem is not None:
            return f"{head}: {self.problem}"
        if self.worst is not None:
            index, actual, wanted = self.worst
            if len(self.axes) == len(index):
                at = (
                    f"{self.tensor}["
                    + ", ".join(f"{a}={i}" for a, i in zip(self.axes, index, strict=True))
                    + "]"
                )
            else:
                at = f"{self.tensor}{index}"
            return (
                f"at L={self.seq_len} N={self.batch}, {at} is {actual:.6g} where the equations "
                f"give {wanted:.6g} (error {self.max_abs_err:.3g})"
            )
        return f"{head}: error {self.max_abs_err:.3g}"

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "tensor": self.tensor,
            "seq_len": self.seq_len,
            "batch": self.batch,
            "max_abs_err": _number(self.max_abs_err),
            "max_rel_err": _number(self.max_rel_err),
            "atol": self.atol,
            "rtol": self.rtol,
            "noise_floor": self.noise_floor,
            "ok": self.verdict == "pass",
            "verdict": self.verdict,
        }
        if self.problem is not None:
            document["problem"] = self.problem
        return document


@dataclass(frozen=True)
class CaseResult:
    """One case in one runtime: its verdict, the rows, or the runtime's refusal."""

    name: str
    op: str
    opset: int
    attributes: str
    rows: tuple[OutputRow, ...] = ()
    refusal: str | None = None
    #: the runtime crashed or hung on the case: a fail, whatever the rows before it say
    crash: str | None = None
    #: what the runtime computed instead, where its outputs match a wrong reading of the case
    diagnosis: str | None = None

    @property
    def verdict(self) -> str:
        if self.crash is not None:
            return str(Verdict.FAIL)
        judged = Verdict.worst(row.verdict for row in self.rows)
        if judged == Verdict.FAIL:
            return str(judged)
        if self.refusal is not None:
            return UNSUPPORTED
        return str(judged)

    @property
    def worst_error(self) -> float | None:
        errors = [row.max_abs_err for row in self.rows if not math.isnan(row.max_abs_err)]
        return max(errors) if errors else None

    def message(self) -> str:
        """The crash, the first output that failed, the refusal, or the first output that did
        not pass; empty for a pass."""
        if self.crash is not None:
            return self.crash
        for row in self.rows:
            if row.verdict == "fail":
                found = row.line()
                return (
                    f"{found}; its outputs match the equations if it {self.diagnosis}"
                    if self.diagnosis
                    else found
                )
        if self.refusal is not None:
            return self.refusal
        for row in self.rows:
            if row.verdict != "pass":
                return row.line()
        return ""

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "case": self.name,
            "op": self.op,
            "opset": self.opset,
            "attributes": self.attributes,
            "verdict": self.verdict,
            "worst_abs_err": self.worst_error,
            "message": self.message() or None,
            "rows": [row.to_dict() for row in self.rows],
        }
        if self.refusal is not None:
            document["refusal"] = self.refusal
        if self.crash is not None:
            document["crash"] = self.crash
        document["diagnosis"] = self.diagnosis
        return document


@dataclass(frozen=True)
class RuntimeResult:
    """Every selected case in one runtime."""

    runtime: str
    version: str
    note: str
    cases: tuple[CaseResult, ...]
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(case.verdict for case in self.cases)
        return {verdict: found.get(verdict, 0) for verdict in VERDICTS}

    @property
    def verdict(self) -> str:
        return str(
            Verdict.worst(case.verdict for case in self.cases if case.verdict != UNSUPPORTED)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "version": self.version,
            "note": self.note or None,
            "counts": self.counts,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "cases_per_second": len(self.cases) / self.seconds if self.seconds > 0 else None,
            "cases": [case.to_dict() for case in self.cases],
        }


@dataclass(frozen=True)
class ExportResult:
    """``--export DIR``: where the cases were written and how many."""

    folder: str
    cases: int
    data_sets: int

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "cases": self.cases, "test_data_sets": self.data_sets}


@dataclass(frozen=True)
class ConformanceReport:
    """What ``conformance`` ran: the selection, each runtime's results, and the export."""

    selected: int
    suite: int
    ops: tuple[str, ...]
    filter: str | None
    shard: tuple[int, int] | None
    shapes: tuple[tuple[int, int], ...]
    runtimes: tuple[RuntimeResult, ...]
    versions: dict[str, str]
    export: ExportResult | None = None
    strict: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        """``fail`` if any case failed (with ``strict``, also if one was unsupported), else
        ``inconclusive`` if any was, else ``pass``; an export alone passes."""
        found = [case.verdict for run in self.runtimes for case in run.cases]
        if self.strict and UNSUPPORTED in found:
            return str(Verdict.FAIL)
        return str(Verdict.worst(v for v in found if v != UNSUPPORTED))

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "conformance",
            "versions": self.versions,
            "selected": self.selected,
            "suite": self.suite,
            "ops": list(self.ops),
            "filter": self.filter,
            "shard": None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}",
            "shapes": [{"seq_len": steps, "batch": n} for steps, n in self.shapes],
            "strict": self.strict,
            "runtimes": [run.to_dict() for run in self.runtimes],
            "export": None if self.export is None else self.export.to_dict(),
            "notes": list(self.notes),
            "verdict": self.verdict,
            "ok": self.ok,
        }
