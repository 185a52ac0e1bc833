"""Ctrl-C and time limits: a run stops when asked, however deep inside torch it is.

Ctrl-C raises KeyboardInterrupt in the main thread as Python always does, so files being written
are cleaned up and the command exits 130 with one line. Python runs that handler only between
bytecodes, though, and a long torch call can hold the main thread for a minute; so the signal
also wakes a watcher thread (through ``signal.set_wakeup_fd``, written by the C-level handler at
once), which, if the process is still running a moment later, removes any half-written file and
exits 130 itself.

``time_limit`` raises :class:`TimeLimitExceeded` in the main thread after a number of seconds
(``SIGALRM``), for code that never returns: an ``--impl`` stuck in a loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from rnninspect.base.errors import ExitCode

#: Seconds the main thread has to finish after Ctrl-C before the watcher ends the process.
GRACE = 1.5


def install() -> None:
    """Make Ctrl-C end the process within :data:`GRACE` seconds, cleanly; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_end,), name="ctrl-c", daemon=True).start()


def _watch(read_end: int) -> None:
    while True:
        woken_by = os.read(read_end, 64)
        if signal.SIGINT in woken_by:
            time.sleep(GRACE)
            stop()


def interrupted_line() -> str:
    """What every Ctrl-C prints: one line, after a line break where stderr is a terminal (which
    has just echoed ``^C`` without one), so the line stands alone there and nowhere is blank."""
    return ("\n" if _stderr_is_terminal() else "") + "Error: interrupted\n"


def _stderr_is_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def exit_interrupted() -> None:
    """End the process with exit 130 now, once its line is written. Not by ``sys.exit``:
    CPython marks a KeyboardInterrupt that passed through an import (torch's, say) as
    unhandled even where it was caught, and at exit kills its own process with SIGINT, so the
    shell would see -2 (or 130 + a kill) instead of the 130 this says."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(ExitCode.INTERRUPTED)


#: What must be undone before the process ends on Ctrl-C (a half-written file removed); the
#: modules that leave such things behind add to it.
CLEANUPS: list[Callable[[], None]] = []


def stop() -> None:
    """End the process now as interrupted: no half-written file stays, one line on stderr."""
    for cleanup in CLEANUPS:
        with contextlib.suppress(Exception):  # the process ends anyway: the next still runs
            cleanup()
    try:
        os.write(2, interrupted_line().encode())
    finally:
        os._exit(ExitCode.INTERRUPTED)


@contextlib.contextmanager
def interrupt_ends_at_once() -> Iterator[None]:
    """Within: Ctrl-C ends the process at once (:func:`stop`) instead of raising
    KeyboardInterrupt. For importing native extensions (torch, onnx, onnxruntime): a
    KeyboardInterrupt raised in Python code that their C++ called through pybind11 during the
    import cannot unwind through it, and the process aborts (SIGABRT, "terminate called after
    throwing an instance of 'pybind11::error_already_set'"). Main thread only; elsewhere a
    no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: stop())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class TimeLimitExceeded(BaseException):
    """Raised in the main thread when a :func:`time_limit` runs out; a BaseException, so that
    no ``except Exception`` on the way (user code's, or ours around user code) swallows it."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` if the block runs longer than ``seconds`` (None: no
    limit). Needs the main thread and SIGALRM; elsewhere the block runs without a limit."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
