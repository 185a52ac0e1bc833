"""The exit codes of the contract, in one enum, and every error rnninspect raises on purpose, each
with its exit code: the CLI turns each into that code and one ``Error:`` line, once, at the edge.

(Errors that never reach the edge as such stay beside the code that raises and catches them: a
runtime's failure, carried as a failing row, in ``core/runtimes/base.py``; a matrix axis that
does not expand, in ``commands/matrix/expand.py``; the time limit, in ``base/signals.py``.)"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How a command ended (../shared/CONTRACT.md): 0 done, every check passed; 1 a check
    failed; 2 bad input; 3 a device, dtype or extra not available here; 4 a bug in rnninspect;
    130 interrupted (Ctrl-C), as shells report it."""

    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    UNAVAILABLE = 3
    INTERNAL = 4
    INTERRUPTED = 130


class RNNInspectError(Exception):
    """Base of every error rnninspect raises on purpose; ``exit_code`` is the command's."""

    exit_code: int = ExitCode.BAD_INPUT


class SpecError(RNNInspectError, ValueError):
    """An invalid configuration or an unparsable SPEC string (exit 2)."""


class MemoryLimitError(RNNInspectError):
    """The estimate is over the limit, or a limit could not be parsed (exit 2)."""


class OutputError(RNNInspectError):
    """An output path that cannot be written, or a write that failed (exit 2)."""


class CheckpointError(RNNInspectError):
    """A checkpoint that cannot be read, or that weights-only loading refuses (exit 2)."""


class MatrixFileError(RNNInspectError):
    """An unreadable or malformed matrix file, or an invalid case in it (exit 2)."""


class ImplError(RNNInspectError):
    """A target that cannot be imported, called, or loaded with torch's weights (exit 2)."""


class ImplementationFailed(RNNInspectError):
    """The implementation under test raised while running, or ended its process (a failed
    check, exit 1)."""

    exit_code = ExitCode.CHECK_FAILED


class Unavailable(RNNInspectError):
    """The requested device or dtype does not exist on this machine, or an extra is not
    installed (exit 3)."""

    exit_code = ExitCode.UNAVAILABLE


class RuntimeUnavailable(Unavailable):
    """A runtime whose packages are not installed (exit 3, with the install line)."""
