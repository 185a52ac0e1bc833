"""``matrix --jobs J``: the cases verified by J worker processes on this machine.

On Linux the workers are forks of this process, which has torch imported and the cases loaded,
so they start at once; as for torch's own DataLoader workers, a fork is safe for CPU work (CUDA
cannot cross a fork, so a matrix with CUDA cases runs them in fresh processes instead).
Elsewhere they are spawned. A case runs on as many torch threads in a worker as in one process
(:mod:`rnninspect.core.threads`): a product split over another number of threads adds in
another order, and the errors reported would differ in their last bits. Results are taken in the
file's order whatever order the workers finish in, so the report and the JUnit file are those of
``--jobs 1``, timings aside; ``--fail-fast`` keeps the results up to the first case that did not
pass, as one process would have.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from rnninspect.core.isolation import main_left_alone
from rnninspect.reports.matrix import Case, CaseResult


def parse_jobs(text: str) -> int:
    """``J`` (1 to 256) or ``auto``, the cores this process may use."""
    from rnninspect.model.spec import SpecError

    if text.strip().lower() == "auto":
        return cores()
    try:
        jobs = int(text)
    except ValueError:
        raise SpecError(f"--jobs must be a number of workers or auto, got {text!r}") from None
    if not 1 <= jobs <= 256:
        raise SpecError(f"--jobs must be between 1 and 256, got {jobs}")
    return jobs


def prepare_threads(jobs: int) -> None:
    """With several workers, let torch's idle OpenMP threads sleep rather than spin: workers
    share the cores, and a spinning thread takes one from another worker (it took a 200-case
    matrix from 7 s to 35 s on two cores). OpenMP reads this once, when torch is first imported,
    so it is set before; a torch already imported (the Python API) keeps its setting."""
    if jobs > 1 and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_in_workers(
    work: Callable[[Case, int], CaseResult],
    cases: Sequence[Case],
    jobs: int,
    fail_fast: bool,
    allow_inconclusive: bool,
    progress: Callable[[int, Case], None] | None = None,
) -> Iterator[CaseResult]:
    """``work(case, threads)`` for every case in ``jobs`` processes (``work`` a module-level
    function, which a spawned worker imports by name); the results in the cases' order."""
    import torch

    on_cpu = all(case.options.device == "cpu" for case in cases)
    context = multiprocessing.get_context("fork" if on_cpu and sys.platform == "linux" else "spawn")
    threads = torch.get_num_threads()
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start)
    try:
        with main_left_alone():  # the workers start as the first cases are submitted
            futures: list[Future[CaseResult]] = [pool.submit(work, case, threads) for case in cases]
        for index, future in enumerate(futures):
            result = future.result()
            if progress is not None:
                progress(index + 1, cases[index])
            yield result
            if fail_fast and not result.passed(allow_inconclusive):
                return
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # a case still running when we stop is not waited for


def _start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.set_wakeup_fd(-1)  # and so is its watcher's pipe
    os.dup2(2, 1)  # what an --impl prints goes to stderr: stdout holds the report alone
    sys.stdout = sys.stderr
