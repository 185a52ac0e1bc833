"""The exit codes of the contract, in one enum, and the base of every error rnninspect raises on
purpose: the CLI turns each into its exit code and one ``Error:`` line, once, at the edge."""

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
