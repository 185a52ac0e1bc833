"""``rnninspect conformance``: the suite selected, run in each runtime asked for, one case a
process (:mod:`~rnninspect.commands.conformance.workers`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from rnninspect.base.errors import SpecError
from rnninspect.commands.conformance.workers import run_isolated
from rnninspect.core.onnx_runtimes import OperatorRuntime, require, runtime
from rnninspect.model.conformance import SHAPES, Case, suite
from rnninspect.reports.common import versions
from rnninspect.reports.conformance import ConformanceReport, RuntimeResult

OPS = ("lstm", "gru", "rnn")


def select(
    ops: Sequence[str] = OPS, text: str | None = None, shard: tuple[int, int] | None = None
) -> list[Case]:
    """The suite's cases of these operators whose name or attributes contain ``text`` (any of
    its comma-separated words, case-insensitive), then the K-th of N shards: every N-th case
    from the K-th, so that each shard has some of every kind."""
    unknown = sorted(set(ops) - set(OPS))
    if unknown:
        raise SpecError(f"--op {','.join(unknown)}: the operators are lstm, gru and rnn")
    cases = [case for case in suite() if case.op.lower() in ops]
    if text:
        words = [word.strip().lower() for word in text.split(",") if word.strip()]
        cases = [case for case in cases if any(word in _haystack(case) for word in words)]
    if shard is not None:
        k, n = shard
        cases = cases[k - 1 :: n]
    return cases


def _haystack(case: Case) -> str:
    return f"{case.name} {case.node.describe()} opset{case.opset}".lower()


def parse_ops(text: str | None) -> tuple[str, ...]:
    if not text:
        return OPS
    return tuple(
        dict.fromkeys(part.strip().lower() for part in re.split(r"[,\s]+", text) if part.strip())
    )


def run_suite(
    cases: Sequence[Case],
    chosen: OperatorRuntime | str,
    *,
    jobs: int = 1,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    progress: Callable[[int, int, str], None] | None = None,
) -> RuntimeResult:
    """Every case in one runtime (by name, or an :class:`OperatorRuntime` of the caller's),
    run in worker processes (:mod:`~rnninspect.commands.conformance.workers`)."""
    if isinstance(chosen, str):
        require(chosen)
        chosen = runtime(chosen)  # imported here, run only in the forks
    started = time.perf_counter()

    def tick(done: int, case: Case) -> None:
        if progress is not None:
            progress(done, len(cases), case.name)

    results = run_isolated(cases, chosen, jobs=jobs, shapes=shapes, progress=tick)
    seconds = time.perf_counter() - started
    return RuntimeResult(chosen.name, chosen.version, chosen.note, tuple(results), seconds)


def conformance(
    runtimes: Sequence[OperatorRuntime | str],
    *,
    ops: Sequence[str] = OPS,
    text: str | None = None,
    shard: tuple[int, int] | None = None,
    export: str | None = None,
    jobs: int = 1,
    strict: bool = False,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    progress: Callable[[int, int, str], None] | None = None,
) -> ConformanceReport:
    """The selected cases exported to ``export`` (if given), then run in every runtime."""
    import torch

    from rnninspect.commands.conformance import export as exporting

    names = [r if isinstance(r, str) else r.name for r in runtimes]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SpecError(f"--runtime {', '.join(twice)} is given twice")
    for chosen in runtimes:
        if isinstance(chosen, str):
            require(chosen)  # every extra checked before anything runs
    if export is not None:
        exporting.check_folder(export)
    cases = select(ops, text, shard)
    if not cases:
        raise SpecError("no case matches --op and --filter (and --shard)")
    written = None
    if export is not None:
        written = exporting.export(cases, export, shapes, progress)
    results = tuple(
        run_suite(cases, chosen, jobs=jobs, shapes=shapes, progress=progress) for chosen in runtimes
    )
    notes = []
    if shard is not None:
        notes.append(f"shard {shard[0]}/{shard[1]}: {len(cases)} of the selected cases")
    return ConformanceReport(
        selected=len(cases),
        suite=len(suite()),
        ops=tuple(ops),
        filter=text,
        shard=shard,
        shapes=tuple(shapes),
        runtimes=results,
        versions=versions(torch.__version__),
        export=written,
        strict=strict,
        notes=tuple(notes),
    )
