"""The ``rnninspect`` command: parse options, call the library, render, map errors to exit codes.

torch is imported inside the commands, never at module level, so ``rnninspect --help`` starts in
a fraction of the time ``import torch`` takes. This module holds the group and its error
handling; ``options`` what the commands share; one module per command. Adding a command adds
its module and one entry in the tuple given to ``main.add_command`` below.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from typing import Any

import click

from rnninspect import __version__
from rnninspect.base.errors import ExitCode, RNNInspectError
from rnninspect.cli.bench import bench
from rnninspect.cli.conformance import conformance
from rnninspect.cli.convert import convert
from rnninspect.cli.diagnose import diagnose
from rnninspect.cli.explain import explain
from rnninspect.cli.infer import infer
from rnninspect.cli.keras import keras
from rnninspect.cli.matrix import matrix
from rnninspect.cli.shapes import shapes
from rnninspect.cli.vectors import vectors
from rnninspect.cli.verify import verify

#: Raised by click 8.2 and later for a bare group; older clicks print the help themselves.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def print_error(message: str) -> None:
    """One ``Error:`` line on stderr: control characters from outside shown escaped, and a
    message that quotes a huge input cut to a readable length."""
    from rnninspect.base.text import encodable, one_line

    click.echo(encodable(f"Error: {one_line(message)}", sys.stderr), err=True)


class _Interrupted(BaseException):
    """Ctrl-C, carried past click's own handler, which would print a blank line first."""


class RNNInspectGroup(click.Group):
    """A click group whose every failure is one ``Error:`` line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted() from None

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else ExitCode.OK
        except _NO_ARGS_IS_HELP as exc:
            click.echo(exc.format_message())  # bare `rnninspect`: the help, as --help gives it
            code = ExitCode.OK
        except click.ClickException as exc:
            print_error(exc.format_message())
            code = exc.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt, _Interrupted):
            from rnninspect.base.signals import interrupted_line

            with suppress(OSError, ValueError):
                sys.stderr.write(interrupted_line())
            code = ExitCode.INTERRUPTED
        except RNNInspectError as exc:
            print_error(str(exc))
            code = exc.exit_code
        except Exception as exc:
            if os.environ.get("RNNINSPECT_DEBUG"):
                raise
            print_error(
                f"internal error, a bug in rnninspect: {type(exc).__name__}: {exc} "
                "(set RNNINSPECT_DEBUG=1 for the traceback)"
            )
            code = ExitCode.INTERNAL
        code = _flushed(code)
        if standalone_mode and code == ExitCode.INTERRUPTED:
            from rnninspect.base.signals import exit_interrupted

            exit_interrupted()
        if standalone_mode:
            sys.exit(code)
        return code


def _flushed(code: int) -> int:
    """Flush stdout now, so that output that cannot be written (a full disk) is one error line
    and exit 2, not a traceback when Python exits; a pipe whose reader has left is no error."""
    if sys.stdout is None:
        return code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return code
    except OSError as exc:
        with suppress(OSError, ValueError):  # nothing more may reach it, not even at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print_error(f"cannot write to stdout: {exc.strerror or exc}")
        return ExitCode.BAD_INPUT
    return code


@click.group(cls=RNNInspectGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="rnninspect")
def main() -> None:
    """Shapes, parameters, parity and timing of PyTorch's recurrent layers.

    Describe a module with a SPEC such as "nn.LSTM(10, 20, num_layers=2)", with options such as
    --cell lstm --hidden-size 20, or both (options win). Exit codes: 0 done, 1 a check failed,
    2 bad input, 3 device, dtype or extra not available here, 4 a bug in rnninspect.
    """


for command in (
    shapes,
    verify,
    bench,
    matrix,
    infer,
    explain,
    keras,
    convert,
    diagnose,
    conformance,
    vectors,
):
    main.add_command(command)
