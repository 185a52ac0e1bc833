"""Each case runs in a process of its own, never in rnninspect's.

A runtime's native code can crash on a model it should refuse, or corrupt its memory on one case
and crash on a later one: OpenVINO 2026.4 does both with ``layout=1``. So each case is run in a
fresh fork of this process (about 5 ms on Linux), with the runtime's module imported here first
and its state (sessions, OpenVINO's Core) made in the fork: a crash or a hang is the case's own,
``fail`` with the signal or the time limit, and cannot touch the next case. ``--jobs`` runs that
many forks at once. Where the platform cannot fork, the cases run in this process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from rnninspect.base.text import one_line
from rnninspect.commands.conformance.running import describe_case, model_bytes, run_case
from rnninspect.core.onnx_runtimes import OperatorRuntime
from rnninspect.model.conformance import Case
from rnninspect.reports.conformance import CaseResult

T = TypeVar("T")

#: Seconds one case may take (every shape) before its process is stopped.
CASE_TIMEOUT = 120.0


@dataclass
class _Running:
    index: int
    case: Case
    process: Any
    conn: Connection
    started: float
    log: str  # where the fork's stdout and stderr go


def _serve(
    conn: Connection,
    case: Case,
    model: bytes,
    chosen: OperatorRuntime,
    shapes: Sequence[tuple[int, int]],
    log: str,
) -> None:
    """The fork: run one case and send its result. What the runtime prints (a Rust panic's
    backtrace, a C++ assertion) goes to ``log``, never to the user's terminal."""
    _one_thread()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    faulthandler.disable()
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdout = sys.stderr
    conn.send(run_case(case, chosen, shapes, model=model))
    conn.close()


def _one_thread() -> None:
    """The fork's torch keeps to one thread: GNU OpenMP cannot cross a fork, and a child of a
    process whose OpenMP threads have started hangs in its first parallel region otherwise
    (core/isolation.py has the story)."""
    import torch

    torch.set_num_threads(1)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def run_isolated(
    cases: Sequence[Case],
    chosen: OperatorRuntime,
    *,
    jobs: int = 1,
    shapes: Sequence[tuple[int, int]],
    progress: Callable[[int, Case], None] | None = None,
    timeout: float = CASE_TIMEOUT,
) -> list[CaseResult]:
    """Every case, each in a fork of its own, ``jobs`` at a time; the results in the cases'
    order."""
    if not can_fork():
        results = []
        for index, case in enumerate(cases):
            results.append(run_case(case, chosen, shapes))
            if progress is not None:
                progress(index + 1, case)
        return results
    context = multiprocessing.get_context("fork")
    pending = deque(enumerate(cases))
    results_by_index: dict[int, CaseResult] = {}
    running: list[_Running] = []

    def settle(job: _Running, result: CaseResult) -> None:
        results_by_index[job.index] = result
        running.remove(job)
        job.conn.close()
        _remove(job.log)
        if progress is not None:
            progress(len(results_by_index), job.case)

    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                index, case = pending.popleft()
                model = model_bytes(case)  # onnx is imported here once, not in every fork
                handle, log = tempfile.mkstemp(prefix="rnninspect-conformance-", suffix=".log")
                os.close(handle)
                parent, child = context.Pipe(duplex=False)
                process = context.Process(
                    target=_serve,
                    args=(child, case, model, chosen, tuple(shapes), log),
                    daemon=True,
                )
                process.start()
                child.close()
                running.append(_Running(index, case, process, parent, time.monotonic(), log))
            wait([job.conn for job in running] + [job.process.sentinel for job in running], 0.5)
            for job in list(running):
                if job.conn.poll():
                    try:
                        result = job.conn.recv()
                    except (EOFError, OSError):
                        result = None
                    if result is not None:
                        job.process.join()
                        settle(job, result)
                        continue
                overdue = time.monotonic() - job.started > timeout
                if job.process.is_alive() and not overdue:
                    continue
                job.process.kill()
                job.process.join()
                said = _last_words(job.log)
                settle(job, _crashed(job.case, job.process.exitcode, overdue, timeout, said))
    finally:
        for job in running:
            job.process.kill()
            job.process.join()
            _remove(job.log)
    return [results_by_index[index] for index in range(len(cases))]


def forked(call: Callable[[], T], timeout: float = CASE_TIMEOUT) -> tuple[T | None, str | None]:
    """``call()`` in a fork of its own, as a case is run: its result and None, or None and how
    the process ended (a crash with the runtime's last words, or the time limit)."""
    if not can_fork():
        return call(), None
    context = multiprocessing.get_context("fork")
    handle, log = tempfile.mkstemp(prefix="rnninspect-onnx-", suffix=".log")
    os.close(handle)
    parent, child = context.Pipe(duplex=False)

    def serve() -> None:
        _one_thread()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        faulthandler.disable()
        out = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        sys.stdout = sys.stderr
        child.send(call())
        child.close()

    process = context.Process(target=serve, daemon=True)
    try:
        process.start()
        child.close()
        wait([parent, process.sentinel], timeout)
        if parent.poll():
            with contextlib.suppress(EOFError, OSError):
                result: T = parent.recv()
                process.join()
                return result, None
        overdue = process.is_alive()
        process.kill()
        process.join()
        code = process.exitcode
        if overdue:
            why = f"the runtime did not finish in {timeout:g} s and was stopped"
        elif code is not None and code < 0:
            why = f"the runtime crashed ({signal.Signals(-code).name})"
        else:
            why = f"the runtime's process ended (exit code {code})"
        said = _last_words(log)
        return None, f"{why}: {said}" if said else why
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        parent.close()
        _remove(log)


def _crashed(case: Case, code: int | None, overdue: bool, timeout: float, said: str) -> CaseResult:
    """A case whose process died under it, or ran past the limit: ``fail``, and why, with the
    runtime's last words where it printed any."""
    if overdue:
        why = f"the runtime did not finish the case in {timeout:g} s and was stopped"
    elif code is not None and code < 0:
        why = f"the runtime crashed ({signal.Signals(-code).name}) running the case"
    else:
        why = f"the runtime's process ended (exit code {code}) running the case"
    return CaseResult(**describe_case(case), crash=f"{why}: {said}" if said else why)


def _last_words(log: str) -> str:
    """What a dying runtime printed, in one line: a Rust panic's message, else its last line."""
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle.read().splitlines() if line.strip()]
    except OSError:
        return ""
    for index, line in enumerate(lines):
        if "panicked at" in line:
            return one_line(" ".join(lines[index : index + 2]), 200)
    return one_line(lines[-1], 200) if lines else ""


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
