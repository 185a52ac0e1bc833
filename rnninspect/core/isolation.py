"""User code in a child process, where its death is seen rather than shared.

An ``--impl`` is the user's code, and code can end the process it runs in: ``os._exit(0)``, a
segmentation fault in an extension, the kernel's out-of-memory killer. Run in rnninspect's own
process, any of these ends verify with no report and, for ``os._exit(0)``, exit status 0: CI
reads that as a pass of something never checked. So a check that runs user code runs in a
child process, and the parent, which runs no user code, turns a child that ended without its
result into a failed check that names how it ended. The parent also enforces ``--timeout``
from outside, which stops an implementation stuck inside one long C call, where a signal
handler in the same process would wait for the call to return.

How the child starts (:func:`plan`):

- on the CPU under Linux, on one torch thread: a fork of this process (torch already imported,
  the implementation not yet: it is imported in the child), which starts at once;
- on the CPU on several threads: a fork of a fork server, a fresh process that imported torch
  and rnninspect and has run nothing. GNU OpenMP cannot cross a fork: a child forked from a
  process whose OpenMP threads have started (any earlier parallel torch op, in a test suite, a
  notebook, a matrix's earlier case) hangs in its first parallel region, unless it keeps to one
  thread. The server starts once per process (about as long as importing torch), so its work and
  arguments must pickle; a factory object that does not runs in a fork on one thread instead;
- on CUDA and MPS, which cannot cross a fork: spawned, its work and arguments pickled; a factory
  that does not pickle runs in this process instead.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from rnninspect.base.errors import RNNInspectError
from rnninspect.core.runs import ImplementationFailed

T = TypeVar("T")

#: Seconds a child that has sent its result gets to exit before it is killed.
_EXIT_GRACE = 5.0


#: What the fork server imports once, so that each child it forks starts with torch and the
#: engines ready.
_PRELOAD = ["rnninspect.commands.verify.verification", "rnninspect.commands.bench"]


def _pickles(work: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    try:
        pickle.dumps((work, args))
    except Exception:
        return False
    return True


def plan(
    device_type: str, threads: int, work: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[str, int] | None:
    """How ``work(*args)`` runs in a child for this device on ``threads`` torch threads: the
    start method and the threads the child will use (see the module's docstring); None where
    no child can run it (CUDA or MPS, and a factory that does not pickle)."""
    linux = sys.platform == "linux"
    if device_type == "cpu" and linux and threads == 1:
        return "fork", 1
    if _pickles(work, args):
        return ("forkserver" if device_type == "cpu" and linux else "spawn"), threads
    if device_type == "cpu" and linux:
        return "fork", 1
    return None


def run(
    work: Callable[..., T],
    args: tuple[Any, ...],
    *,
    how: str,
    threads: int,
    timeout: float | None,
    what: str,
    lost: str = "nothing was verified",
) -> T:
    """``work(*args)`` in a child process started by ``how`` (:func:`plan`), on ``threads``
    torch threads: its result, or what it raised, raised again here.

    A child that ends without sending either (``os._exit``, a signal) is an
    :class:`ImplementationFailed` naming its exit status or signal; one still running after
    ``timeout`` seconds is killed and is one too. ``what`` names the code for those messages
    (``"the implementation under test"``), ``lost`` what did not happen.
    """
    context: Any = multiprocessing.get_context(how)
    if how == "forkserver":
        context.set_forkserver_preload(_PRELOAD)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, threads, work, args), daemon=False)
    with main_left_alone():
        child.start()
    send.close()
    try:
        outcome = _wait(receive, child, timeout, what, lost)
    except BaseException:  # Ctrl-C here, or the time limit: the child must not outlive us
        _kill(child)
        raise
    finally:
        receive.close()
    child.join(_EXIT_GRACE)
    _kill(child)
    kind, value = outcome
    if kind == "raised":
        raise value
    return value  # type: ignore[no-any-return]


@contextlib.contextmanager
def main_left_alone() -> Iterator[None]:
    """Start workers without re-running the parent's ``__main__`` in them, as multiprocessing
    otherwise does: it may be a script run from stdin, a notebook, or the ``rnninspect``
    command itself, and the workers need nothing from it."""
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    for name in saved:
        delattr(main, name)
    main.__spec__ = None
    try:
        yield
    finally:
        if "__spec__" not in saved:
            del main.__spec__
        for name, value in saved.items():
            setattr(main, name, value)


def _wait(
    receive: Connection, child: Any, timeout: float | None, what: str, lost: str
) -> tuple[str, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if receive.poll(left if left is None else min(left, 1.0)):
            try:
                kind, value = receive.recv()
            except (EOFError, OSError):  # the child ended without sending its result
                break
            except Exception as exc:  # its result did not unpickle here
                raise ImplementationFailed(
                    f"{what}'s result could not be read back from its process: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            if kind != "text":
                return kind, value
            with contextlib.suppress(Exception):
                sys.stderr.write(value)
                sys.stderr.flush()
            continue
        if deadline is not None and time.monotonic() >= deadline:
            _kill(child)
            raise ImplementationFailed(f"timed out after {timeout:g} s")
    child.join(_EXIT_GRACE)
    raise ImplementationFailed(f"{what} {_how_it_ended(child.exitcode)}: {lost}")


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        described = signal.strsignal(-code)
        return f"killed its process with {name}" + (f" ({described})" if described else "")
    return (
        f"ended its process with exit status {code} before it finished (os._exit or a C-level exit)"
    )


def _kill(child: Any) -> None:
    if child.is_alive():
        with contextlib.suppress(Exception):
            child.kill()
        child.join(_EXIT_GRACE)


def _child(send: Connection, threads: int, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    import torch

    torch.set_num_threads(threads)  # one, in a fork: see the module's docstring
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)  # and so is its watcher's pipe
    _die_with_parent()
    os.dup2(2, 1)  # what user code prints goes to stderr: stdout holds the report alone
    sys.stdout = sys.stderr = _Forwarded(send)  # to the parent's stderr, whatever that is
    try:
        outcome: tuple[str, Any] = ("returned", work(*args))
    except BaseException as exc:
        if os.environ.get("RNNINSPECT_DEBUG"):
            traceback.print_exc()
        outcome = ("raised", _portable(exc))
    try:
        send.send(outcome)
    except Exception as exc:
        send.send(("raised", ImplementationFailed(f"its result could not be sent back: {exc}")))
    send.close()
    os._exit(0)


class _Forwarded(io.TextIOBase):
    """The child's ``sys.stdout`` and ``sys.stderr``: each write sent to the parent at once,
    which writes it to its own ``sys.stderr`` (a terminal, a pipe, or a test's capture), so
    that what user code printed before it ended the process is not lost with it."""

    def __init__(self, send: Connection) -> None:
        self._send = send

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with contextlib.suppress(Exception):
            self._send.send(("text", str(text)))
        return len(text)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can cross to the parent: itself where it pickles and unpickles, else an
    error of the same exit code and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        pass

    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, RNNInspectError):
        copy = RNNInspectError(str(exc))
        copy.exit_code = exc.exit_code
        return copy
    return RuntimeError(message)


def _die_with_parent() -> None:
    """Ask Linux to end this child when its parent ends (a parent killed by the watcher after
    Ctrl-C, say), so that no user code runs on unobserved."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
