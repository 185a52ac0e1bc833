"""The ``rnninspect`` command's entry point: Ctrl-C handled from the first moment, then the CLI.

Apart from ``signals`` so that the signal handling, which the engines use (``time_limit``), never
imports the CLI above them. Importing this module is what the ``rnninspect`` script does first,
so its first statements take Ctrl-C over, before anything that takes time is imported; only
Python's own start-up comes before them.
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while the command is still importing: the one line every Ctrl-C gives, exit 130."""
    os.write(2, b"\nError: interrupted\n" if os.isatty(2) else b"Error: interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_early)

from rnninspect.base.signals import exit_interrupted, install, interrupted_line  # noqa: E402


def entry(prog_name: str | None = None) -> None:
    """The ``rnninspect`` command."""
    if sys.stdout is None:  # started with its stdout closed (``exec 1>&-``): nowhere to report
        if sys.stderr is not None:
            sys.stderr.write("Error: cannot write to stdout: it is closed\n")
        raise SystemExit(2)
    try:
        install()
        from rnninspect.cli import main
    except KeyboardInterrupt:
        sys.stderr.write(interrupted_line())
        exit_interrupted()
    main(prog_name=prog_name)
