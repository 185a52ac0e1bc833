"""The ``rnninspect`` command's entry point: Ctrl-C handled from the first moment, then the CLI.

Apart from ``signals`` so that the signal handling, which the engines use (``time_limit``), never
imports the CLI above them.
"""

from __future__ import annotations

import sys

from rnninspect.signals import EXIT_INTERRUPTED, install


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
        sys.stderr.write("Error: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    main(prog_name=prog_name)
