"""What the commands share: the exit codes, the CONFIG options and the other options several
commands take, SPEC and options made into one configuration, and where user code's output and
the progress bars go.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from typing import Any

import click

from rnninspect.model.spec import CellKind, option_name, resolve

#: CONFIG options, by their keys; each command that takes a configuration gets all of them.
CONFIG_KEYS = (
    "cell",
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "bidirectional",
    "nonlinearity",
    "dropout",
    "proj_size",
    "batch",
    "seq_len",
    "unbatched",
    "seed",
    "lengths",
)


#: Arguments that name a file: the shell completes them as paths; rnninspect checks them itself.
FILE = click.Path(dir_okay=True, file_okay=True)


#: What click.option returns: a decorator of a command function.
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def format_option() -> Decorator:
    """``--format table|json|markdown``, on every command."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "markdown"]),
        default="table",
        show_default=True,
        help="table for a person, json for scripts, markdown for issues and PRs.",
    )


def device_option(help: str = "cpu, cuda, cuda:N, mps, or auto (the best one here).") -> Decorator:
    return click.option("--device", default="cpu", show_default=True, metavar="DEVICE", help=help)


def dtype_option(help: str) -> Decorator:
    return click.option(
        "--dtype",
        type=click.Choice(["float32", "float64", "float16", "bfloat16"]),
        default="float32",
        show_default=True,
        help=help,
    )


def max_memory_option(
    help: str = "Refuse configurations whose estimate is over SIZE.",
) -> Decorator:
    return click.option(
        "--max-memory",
        metavar="SIZE",
        help=help + "  [default: 80% of the memory free to this process]",
    )


def tf32_option(help: str = "Allow TF32 on CUDA (tolerances widen accordingly).") -> Decorator:
    return click.option("--tf32/--no-tf32", default=False, show_default=True, help=help)


def timeout_option(help: str) -> Decorator:
    return click.option("--timeout", type=float, metavar="S", help=help)


def runtime_options(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--runtime``, ``--exporter`` and ``--compile-backend``, for verify and bench."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--compile-backend",
            metavar="NAME",
            help="torch.compile's backend for --runtime compile.  [default: inductor]",
        )(command)
        command = click.option(
            "--exporter",
            type=click.Choice(["dynamo", "legacy"]),
            help="The ONNX exporter for --runtime onnx.  [default: dynamo, as torch's]",
        )(command)
        return click.option("--runtime", "runtimes", multiple=True, metavar="R[,R...]", help=help)(
            command
        )

    return add


def allow_inconclusive_option(help: str) -> Decorator:
    return click.option("--allow-inconclusive", is_flag=True, help=help)


def config_options(command: Callable[..., Any], with_format: bool = True) -> Callable[..., Any]:
    """Add SPEC and every CONFIG option of the contract, plus ``--format`` (unless the command
    gives ``--format`` a meaning of its own, as ``vectors`` does).

    Defaults are ``None`` so that the spec layer knows which values the user gave: those
    override the SPEC, the rest come from the SPEC or torch's defaults.
    """
    options: list[Decorator] = [
        click.argument("spec_text", metavar="[SPEC]", required=False),
        click.option(
            "--cell",
            type=click.Choice([kind.value for kind in CellKind]),
            help="Module class.  [default: rnn]",
        ),
        click.option(
            "--input-size", type=int, metavar="N", help="H_in, features per step.  [default: 10]"
        ),
        click.option(
            "--hidden-size", type=int, metavar="N", help="H_cell, the hidden size.  [default: 20]"
        ),
        click.option("--num-layers", type=int, metavar="N", help="Stacked layers.  [default: 1]"),
        click.option("--bias/--no-bias", default=None, help="Bias vectors.  [default: bias]"),
        click.option(
            "--batch-first/--no-batch-first",
            default=None,
            help="Input and output as (N, L, ...).  [default: no-batch-first]",
        ),
        click.option(
            "--bidirectional/--no-bidirectional",
            default=None,
            help="Run a reverse direction too.  [default: no-bidirectional]",
        ),
        click.option(
            "--nonlinearity",
            type=click.Choice(["tanh", "relu"]),
            help="RNN and RNNCell only.  [default: tanh]",
        ),
        click.option(
            "--dropout", type=float, metavar="P", help="Between layers, as torch.  [default: 0]"
        ),
        click.option(
            "--proj-size", type=int, metavar="N", help="LSTM projection size.  [default: 0]"
        ),
        click.option(
            "--batch", type=int, metavar="N", help="N of the example input.  [default: 3]"
        ),
        click.option(
            "--seq-len", type=int, metavar="N", help="L of the example input.  [default: 5]"
        ),
        click.option(
            "--unbatched", is_flag=True, default=None, help="Input without the batch dimension."
        ),
        click.option(
            "--seed", type=int, metavar="N", help="Seeds weights and inputs.  [default: 0]"
        ),
        click.option(
            "--lengths",
            metavar="5,3,2",
            help="Pack a batch of sequences of these lengths (pack_padded_sequence).",
        ),
    ]
    if with_format:
        options.append(format_option())
    for option in reversed(options):
        command = option(command)
    return command


def spec_from(spec_text: str | None, options: dict[str, Any]) -> Any:
    """Pop the CONFIG options out of a command's keyword arguments and build the spec."""
    given = {key: options.pop(key) for key in CONFIG_KEYS}
    return resolve(spec_text, given)


def with_config(
    command: Callable[..., Any] | None = None,
    *,
    refused: Mapping[str, str] | None = None,
    with_format: bool = True,
) -> Callable[..., Any]:
    """Turn SPEC and CONFIG options into one validated ``spec`` argument.

    ``refused`` maps the CONFIG options that have no meaning for this command to the reason:
    given, they are refused (exit 2) rather than silently dropped, and ``--help`` leaves them
    out, since the command does not take them.
    """
    if command is None:
        return functools.partial(with_config, refused=refused, with_format=with_format)
    name = command.__name__

    @functools.wraps(command)
    def wrapper(spec_text: str | None, **options: Any) -> Any:
        for key, why in (refused or {}).items():
            if options.get(key) is not None:
                raise click.UsageError(f"{option_name(key)} has no meaning for {name}: {why}")
        path = options.pop("weights", None)
        prefix = options.pop("prefix", None)
        if path is None:
            if prefix is not None:
                raise click.UsageError("--prefix needs --weights FILE")
            return command(spec=spec_from(spec_text, options), **options)
        from rnninspect import api

        given = {key: options.pop(key) for key in CONFIG_KEYS}
        spec, state = api.trained_weights(path, prefix, spec_text, given)
        source = path if prefix is None else f"{path}, prefix {prefix!r}"
        return command(spec=spec, **options, weights=state, weights_source=source)

    decorated = config_options(wrapper, with_format)
    for param in getattr(decorated, "__click_params__", []):
        if param.name in (refused or {}) and isinstance(param, click.Option):
            param.hidden = True
    return decorated


def weights_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--weights FILE --prefix P``: a checkpoint's trained weights instead of random ones."""
    command = click.option(
        "--prefix",
        metavar="P",
        help="Which recurrent module of --weights (its key prefix, as infer prints it).",
    )(command)
    return click.option(
        "--weights",
        type=FILE,
        metavar="FILE",
        help="Use a recurrent module's trained weights from a checkpoint (.pt, .safetensors, "
        ".npz); "
        "the configuration comes from the weights, CONFIG options fill in the rest.",
    )(command)


@contextmanager
def user_code_output() -> Iterator[None]:
    """Send what user code prints (an --impl's debugging output) to stderr: stdout holds the
    report alone, so --format json stays one document."""
    with redirect_stdout(sys.stderr):
        yield


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar on stderr, when stderr is a terminal; ``tick(done, total, label)``."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda done, total, label: None
        return
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def tick(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label or description)

        yield tick


def import_torch() -> None:
    """Import torch, then freeze the collector's view of every object so far: torch's hundreds
    of thousands live as long as the process, and the full collection that importing rich (or
    anything else) then sets off would walk them all, about 90 ms of every command. Called first
    in each command's body, never at import time, so ``--help`` stays free of torch."""
    import gc

    from rnninspect.base.signals import interrupt_ends_at_once

    with interrupt_ends_at_once():  # a KeyboardInterrupt cannot unwind through pybind11
        import torch  # noqa: F401

    gc.freeze()
