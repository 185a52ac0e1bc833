"""The ``rnninspect`` command: parse options, call the library, render, map errors to exit codes.

torch is imported inside the commands, never at module level, so ``rnninspect --help`` starts in
a fraction of the time ``import torch`` takes.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout, suppress
from typing import Any

import click

from rnninspect import __version__
from rnninspect.spec import CellKind, RNNInspectError, SpecError, option_name, resolve

#: Exit codes of the contract.
EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130

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

#: Raised by click 8.2 and later for a bare group; older clicks print the help themselves.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _error(message: str) -> None:
    """One ``Error:`` line on stderr: control characters from outside shown escaped, and a
    message that quotes a huge input cut to a readable length."""
    from rnninspect.text import encodable, one_line

    click.echo(encodable(f"Error: {one_line(message)}", sys.stderr), err=True)


class RNNInspectGroup(click.Group):
    """A click group whose every failure is one ``Error:`` line on stderr and an exit code."""

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
            code = result if isinstance(result, int) else EXIT_OK
        except _NO_ARGS_IS_HELP as exc:
            click.echo(exc.format_message())  # bare `rnninspect`: the help, as --help gives it
            code = EXIT_OK
        except click.ClickException as exc:
            _error(exc.format_message())
            code = exc.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt):
            _error("interrupted")
            code = EXIT_INTERRUPTED
        except RNNInspectError as exc:
            _error(str(exc))
            code = exc.exit_code
        except Exception as exc:
            if os.environ.get("RNNINSPECT_DEBUG"):
                raise
            _error(
                f"internal error, a bug in rnninspect: {type(exc).__name__}: {exc} "
                "(set RNNINSPECT_DEBUG=1 for the traceback)"
            )
            code = EXIT_INTERNAL
        code = _flushed(code)
        if standalone_mode:
            sys.exit(code)
        return code


def _flushed(code: int) -> int:
    """Flush stdout now, so that output that cannot be written (a full disk, a closed pipe) is
    one error line and exit 2, not a traceback when Python exits."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        with suppress(OSError, ValueError):  # nothing more may reach it, not even at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _error(f"cannot write to stdout: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    return code


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


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add SPEC and every CONFIG option of the contract, plus ``--format``.

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
        format_option(),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def spec_from(spec_text: str | None, options: dict[str, Any]) -> Any:
    """Pop the CONFIG options out of a command's keyword arguments and build the spec."""
    given = {key: options.pop(key) for key in CONFIG_KEYS}
    return resolve(spec_text, given)


def with_config(
    command: Callable[..., Any] | None = None, *, refused: Mapping[str, str] | None = None
) -> Callable[..., Any]:
    """Turn SPEC and CONFIG options into one validated ``spec`` argument.

    ``refused`` maps the CONFIG options that have no meaning for this command to the reason:
    given, they are refused (exit 2) rather than silently dropped.
    """
    if command is None:
        return functools.partial(with_config, refused=refused)
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
        spec, state = api.trained(path, prefix, spec_text, given)
        source = path if prefix is None else f"{path}, prefix {prefix!r}"
        return command(spec=spec, **options, weights=state, weights_source=source)

    return config_options(wrapper)


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


@click.group(cls=RNNInspectGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="rnninspect")
def main() -> None:
    """Shapes, parameters, parity and timing of PyTorch's recurrent layers.

    Describe a module with a SPEC such as "nn.LSTM(10, 20, num_layers=2)", with options such as
    --cell lstm --hidden-size 20, or both (options win). Exit codes: 0 done, 1 a check failed,
    2 bad input, 3 device, dtype or extra not available here, 4 a bug in rnninspect.
    """


@main.command()
@with_config
@max_memory_option(
    "The limit to show the memory estimate against (8GiB, 500MB, 2G); shapes itself runs "
    "anything larger than a small run on the meta device and refuses no size."
)
def shapes(spec: Any, fmt: str, max_memory: str | None) -> int:
    """Every tensor and parameter of the module, each dimension named.

    Builds the real torch module and runs one forward pass, on the CPU when it is small and
    otherwise on torch's meta device, which computes every shape and no number (nothing is
    allocated), and reports the shapes torch produced, checked against rnninspect's shape
    model. A disagreement is a bug in rnninspect: it is shown with both sides, exit 1.
    """
    from rnninspect import api, memory, render

    limit = None if max_memory is None else memory.parse_size(max_memory)
    report = api.inspect_shapes(spec, max_memory=limit)
    for message in report.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    render.emit(report, fmt)
    if not report.ok:
        click.echo(
            f"rnninspect's shape model disagrees with torch in {len(report.mismatches)} places; "
            "this is a bug in rnninspect, please report it",
            err=True,
        )
        return EXIT_CHECK_FAILED
    return EXIT_OK


@main.command()
@with_config
@weights_options
@device_option()
@dtype_option("dtype of the module (the implementation under test).")
@click.option(
    "--impl",
    type=FILE,
    metavar="TARGET",
    help="Check your own implementation instead of torch's: path/to/file.py:Name or "
    "package.module:Name, called with torch's constructor arguments.",
)
@click.option("--atol", type=float, help="Absolute tolerance.  [default: by dtype]")
@click.option("--rtol", type=float, help="Relative tolerance.  [default: by dtype]")
@click.option(
    "--reference-dtype",
    type=click.Choice(["float64", "same"]),
    default="float64",
    show_default=True,
    help="Run the reference in float64 from the weights upcast, or in the module's dtype.",
)
@click.option("--zero-state", is_flag=True, help="Start from zero h0/c0 instead of random ones.")
@click.option(
    "--weight-scale",
    type=float,
    default=1.0,
    show_default=True,
    metavar="X",
    help="Multiply torch's initialisation by X, to probe saturated and chaotic regimes.",
)
@tf32_option()
@allow_inconclusive_option(
    "Exit 0 when rows are inconclusive (explained by the noise floor), none failing."
)
@max_memory_option()
@timeout_option("Fail the run if it takes longer than S seconds.  [default: no limit]")
@runtime_options(
    "Also judge the module on these runtimes: eager, compile, export, onnx (comma-separated "
    "or repeated).  [default: eager]"
)
@click.option(
    "--onnx",
    type=FILE,
    metavar="FILE.onnx",
    help="Also judge an ONNX file you have (inputs taken in order: input, h0, c0), with the "
    "weights it was exported from given by --weights.",
)
@click.option(
    "--save-artifact",
    type=FILE,
    metavar="PATH",
    help="Keep the exported file that was verified (.onnx, .pt2); a folder keeps one per runtime.",
)
@click.option(
    "--other-seq-len",
    type=int,
    metavar="N",
    help="The second sequence length each runtime's artefact runs at.  [default: L+3]",
)
@click.option(
    "--other-batch",
    type=int,
    metavar="N",
    help="The second batch each runtime's artefact runs at.  [default: N+1]",
)
def verify(
    spec: Any, fmt: str, allow_inconclusive: bool, max_memory: str | None, **given: Any
) -> int:
    """Parity of the module with the manual reference: outputs, final states, gradients.

    Builds the real module and the reference with the same weights, runs both on the same
    seeded input and (non-zero) initial state, back-propagates the same random upstream
    gradient through both, and compares every output, final state and gradient. Each row is
    pass, fail, or inconclusive (out of tolerance, but explained by the noise floor of the dtype
    and every single step agrees). Exit 0 when every row passes, 1 otherwise (inconclusive rows
    exit 0 with --allow-inconclusive).
    """
    from rnninspect import memory, render
    from rnninspect.runs import ImplementationFailed
    from rnninspect.verification import VerifyOptions, failed_run
    from rnninspect.verification import verify as run_verify

    limit = None if max_memory is None else memory.parse_size(max_memory)
    given["runtimes"] = given["runtimes"] or None
    options = VerifyOptions(**given, max_memory=limit)
    try:
        with user_code_output():
            report = run_verify(spec, options)
    except ImplementationFailed as exc:
        if fmt == "json":  # CI reads stdout: one document, even when the run could not finish
            click.echo(render.dumps(failed_run(spec, options, str(exc))))
        raise
    for message in report.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    render.emit(report, fmt)
    if report.verdict == "pass":
        return EXIT_OK
    if report.verdict == "inconclusive" and allow_inconclusive:
        click.echo("Inconclusive rows allowed by --allow-inconclusive.", err=True)
        return EXIT_OK
    return EXIT_CHECK_FAILED


@main.command()
@with_config
@weights_options
@device_option()
@dtype_option("dtype of the module and of the reference.")
@click.option("--backward", is_flag=True, help="Time forward+backward as well.")
@click.option(
    "--min-time",
    type=float,
    default=0.2,
    show_default=True,
    metavar="S",
    help="Seconds of measurement per timing, at least (blocked_autorange).",
)
@click.option(
    "--sweep",
    "sweep_text",
    metavar="NAME=V1,V2,...",
    help="Benchmark at each value of seq_len, batch, hidden_size or num_layers, and fit the "
    "growth of time with it.",
)
@click.option(
    "--peak-gflops",
    type=float,
    metavar="X",
    help="A peak to report achieved GFLOP/s against, as a percentage.",
)
@tf32_option("Allow TF32 on CUDA.")
@max_memory_option()
@runtime_options(
    "Also time these runtimes' forward beside the module: eager, compile, export, onnx.  "
    "[default: eager]"
)
@click.option(
    "--impl",
    "impls",
    multiple=True,
    metavar="TARGET",
    help="Also time your own implementation (path/to/file.py:Name or package.module:Name, "
    "loaded as verify loads it) beside the module, with its time over the module's in "
    "alternating rounds; repeat to compare several.",
)
def bench(spec: Any, fmt: str, sweep_text: str | None, max_memory: str | None, **given: Any) -> int:
    """Time torch's module and the reference, forward (and backward with --backward).

    Both run in the chosen dtype on the chosen device, timed by torch.utils.benchmark. Reports
    median, IQR, runs, reference/module ratio, tokens per second, FLOPs and achieved GFLOP/s;
    on CUDA also the module with cuDNN disabled and its peak memory. With --sweep, one
    benchmark per value, a table and a plot of time against the value, and the fitted k of
    time ~ value^k.
    """
    from rnninspect import bench as benchmarks
    from rnninspect import memory, render

    limit = None if max_memory is None else memory.parse_size(max_memory)
    given["runtimes"] = given["runtimes"] or None
    given["impls"] = tuple(dict.fromkeys(given["impls"]))
    options = benchmarks.BenchOptions(**given, max_memory=limit)
    if sweep_text is None:
        report = benchmarks.bench(spec, options)
    else:
        name, values = benchmarks.parse_sweep(sweep_text, spec)
        if options.weights is not None and name in ("hidden_size", "num_layers"):
            raise SpecError(f"--sweep {name}: the sizes of --weights are fixed by the checkpoint")
        with progress_bar(f"sweeping {name}") as tick:
            report = benchmarks.sweep(
                spec, name, values, options, lambda done, total: tick(done, total, "")
            )
    for message in report.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    if report.sweep_warning:
        click.echo(f"Warning: {report.sweep_warning}", err=True)
    render.emit(report, fmt)
    return EXIT_CHECK_FAILED if report.runtime_errors else EXIT_OK


@main.command()
@click.argument("file", type=FILE, metavar="FILE.toml")
@click.option(
    "--junit-xml",
    type=FILE,
    metavar="PATH",
    help="Also write the results as JUnit XML, one testcase per case, for CI servers.",
)
@click.option("--fail-fast", is_flag=True, help="Stop after the first case that does not pass.")
@device_option("For every case.")
@dtype_option("For every case.")
@allow_inconclusive_option("Count inconclusive cases (explained by the noise floor) as passing.")
@timeout_option(
    "Fail a case that takes longer than S seconds, unless the file sets its own timeout.  "
    "[default: 600]"
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Run only the K-th of N slices of the cases, balanced by estimated cost and the same "
    "on every machine, for a CI job matrix of N jobs.",
)
@click.option(
    "--jobs",
    "jobs_text",
    metavar="J|auto",
    default="1",
    show_default=True,
    help="Verify in J worker processes (auto: one per core); the results are the same, in the "
    "same order.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Run a matrix estimated over 10 minutes or 1,000 cases without asking.",
)
@format_option()
def matrix(
    file: str,
    junit_xml: str | None,
    fail_fast: bool,
    device: str,
    dtype: str,
    allow_inconclusive: bool,
    timeout: float | None,
    shard: str | None,
    jobs_text: str,
    yes: bool,
    fmt: str,
) -> int:
    """Verify every configuration of a TOML file in one process, for CI.

    The file has optional [defaults], any number of [[case]] tables (a spec and/or options,
    optional name and impl) and an optional [matrix] of lists, combined in every way. The whole
    file is validated before anything runs (exit 2 naming the case); then each case is verified
    as verify does, without timing. Exit 0 when every case passes, 1 when any fails.
    """
    from pathlib import Path

    from rnninspect.workers import parse_jobs, prepare_threads

    jobs = parse_jobs(jobs_text)
    prepare_threads(jobs)  # before torch is imported

    from rnninspect import output, render, shards
    from rnninspect.matrix import load, run_matrix

    slice_ = None if shard is None else shards.parse_shard(shard)
    target = None if junit_xml is None else output.target(junit_xml, "--junit-xml")
    with user_code_output():
        cases = load(Path(file), device, dtype, timeout)
        if slice_ is not None:
            cases = shards.shard(cases, *slice_)
        _confirm_size(cases, jobs, yes)
    if target is not None:  # a failing report stands until the real one replaces it
        output.write_atomically(target, render.junit_unfinished(file), "--junit-xml")
    with progress_bar("verifying") as tick, user_code_output():
        report = run_matrix(
            cases, file, device, dtype, fail_fast, allow_inconclusive, tick, jobs, slice_
        )
    render.emit(report, fmt)
    if target is not None:
        output.write_atomically(target, render.junit_xml(report), "--junit-xml")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _confirm_size(cases: list[Any], jobs: int, yes: bool) -> None:
    """Past 1,000 cases or an estimated 10 minutes, say so and go on only with --yes or the
    user's answer at a terminal, so a typo in an axis never burns an hour of CI."""
    from rnninspect import shards

    seconds = shards.estimate(cases, jobs, 1.0)
    if len(cases) <= shards.ASK_CASES and seconds <= shards.ASK_SECONDS / 4:
        return  # no machine is four times slower than the one the cost model was fitted on
    seconds = shards.estimate(cases, jobs, shards.calibration())
    if len(cases) <= shards.ASK_CASES and seconds <= shards.ASK_SECONDS:
        return
    size = f"{len(cases):,} cases, estimated {_duration(seconds)} with --jobs {jobs} here"
    if yes:
        click.echo(f"Note: {size}", err=True)
        return
    if sys.stdin.isatty() and sys.stderr.isatty():
        if click.confirm(f"{size}. Run them?", err=True):
            return
        raise SpecError("not run: answered no")
    raise SpecError(f"{size}: pass --yes to run them (--shard K/N splits them across jobs)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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


@main.command()
@click.argument("file", type=FILE, metavar="FILE")
@max_memory_option("Refuse a checkpoint that would load more than SIZE.")
@format_option()
def infer(file: str, max_memory: str | None, fmt: str) -> int:
    """Every recurrent module in a checkpoint, and a SPEC that rebuilds it.

    Reads .pt/.pth/.bin with torch.load(weights_only=True) (never plain unpickling; the size is
    checked before the real load), .safetensors with the safetensors package and .npz with
    numpy (allow_pickle=False); weight_norm and pruned weights are rebuilt. Infers cell,
    sizes, layers, bias, directions and proj_size from the shapes. Exit 0 when modules are
    found, 1 when none is or a group is inconsistent, 2 when the file cannot be read.
    """
    from rnninspect import api, memory, render
    from rnninspect.checkpoint import torch_version_warning

    warning = torch_version_warning()
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    limit = None if max_memory is None else memory.parse_size(max_memory)
    report = api.infer(file, limit)
    render.emit(report, fmt)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


@main.command()
@with_config
def explain(spec: Any, fmt: str) -> int:
    """The equations, shapes and unrolled network of the module, with checked relations.

    Writes the cell's equations with this configuration's sizes and the rows of each weight
    they use, every tensor with its dimensions explained, a diagram of the network unrolled in
    time (which cells make up output, which h_n), and the relations between output and h_n,
    each measured on the real module. Exit 1 if a relation does not hold.
    """
    from rnninspect import api, render

    report = api.explain(spec)
    for message in report.shapes.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    render.emit(report, fmt)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


@main.command()
@with_config
@click.option(
    "--check",
    is_flag=True,
    help="Run the Keras layers (torch backend) on the module's weights and input, against "
    "the reference.",
)
@click.option(
    "--reset-after/--no-reset-after",
    default=True,
    show_default=True,
    help="GRU: Keras's reset_after, True being torch's GRU. --no-reset-after maps to Keras's "
    "other variant, which no torch module computes; --check then judges it against the "
    "reference's reset_after=False equations.",
)
def keras(spec: Any, fmt: str, check: bool, reset_after: bool) -> int:
    """The Keras layers that compute the same thing, and where every weight goes.

    Prints the Keras code, a table mapping every torch parameter to its Keras weight (transposed,
    GRU gates reordered, biases summed or stacked) and why. With --check, builds both with the
    same weights (Keras on the torch backend, rnninspect[keras]) and compares outputs and final
    states with the reference. Exit 0 when equivalent (and every row passes), 1 when no Keras
    layer is equivalent or a row fails, 3 without Keras for --check.
    """
    from rnninspect import api, render

    report = api.keras(spec, check, reset_after)
    render.emit(report, fmt)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


@main.command()
@click.argument("file", type=FILE, metavar="FILE")
@click.option(
    "--to",
    "to",
    type=click.Choice(["keras", "torch"]),
    required=True,
    help="keras: a torch checkpoint to .keras or .weights.h5; torch: a .keras or .weights.h5 "
    "file to a .pt or .safetensors state dict.",
)
@click.option("-o", "--output", required=True, metavar="OUT", help="The file to write.")
@click.option(
    "--prefix",
    metavar="P",
    help="--to keras: convert only this recurrent module of the checkpoint (as infer names it).",
)
@click.option(
    "--nonlinearity",
    type=click.Choice(["tanh", "relu"]),
    help="The RNNs' nonlinearity, which weights files do not record.  [default: tanh]",
)
@format_option()
def convert(
    file: str, to: str, output: str, prefix: str | None, nonlinearity: str | None, fmt: str
) -> int:
    """Convert recurrent weights between a torch checkpoint and Keras, layer by layer.

    --to keras reads FILE as infer does (weights only) and writes a Keras model (.keras) or
    its weights (.weights.h5); --to torch reads a .keras (safe_mode) or .weights.h5 file and
    writes a torch state dict (.pt) or .safetensors. Prints the mapping applied to every
    weight. Before OUT is written, every converted module is read back from the new file and
    run in both frameworks on the same input; a module that does not match leaves OUT as it
    was (exit 1). What cannot convert exactly is refused with the reason (exit 2).
    Needs rnninspect[keras] (exit 3 without it).
    """
    from rnninspect import api, render

    report = api.convert(file, to, output, prefix, nonlinearity)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    render.emit(report, fmt)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


_FROM_INPUT = "the batch and sequence length are read from --input-shape"


@main.command()
@with_config(
    refused={
        "batch": _FROM_INPUT,
        "seq_len": _FROM_INPUT,
        "unbatched": "a 2-D --input-shape is read as unbatched, as torch reads it",
        "seed": "it runs torch on zeros and draws no random numbers",
    }
)
@click.option("--input-shape", required=True, metavar="5,7,10", help="The input's shape.")
@click.option("--h0-shape", metavar="2,7,20", help="h0's shape, if you pass one.")
@click.option("--c0-shape", metavar="2,7,20", help="c0's shape (LSTM), if you pass one.")
def diagnose(
    spec: Any, fmt: str, input_shape: str, h0_shape: str | None, c0_shape: str | None
) -> int:
    """Whether the shapes you have fit this module, and if not, why.

    The batch and sequence length come from --input-shape, read as torch reads it; --lengths
    packs the input as pack_padded_sequence does and is checked against it. Each misfit names
    the tensor, the dimension, what was given and expected, and a hint at the likely cause.
    torch is also run on zeros of those shapes, in a child process, and its own error is quoted.
    Exit 0 when everything fits, 1 when something does not, 2 for unparsable shapes.
    """
    from rnninspect import api, render
    from rnninspect.diagnose import parse_shape

    x = parse_shape(input_shape, "--input-shape")
    h0 = None if h0_shape is None else parse_shape(h0_shape, "--h0-shape")
    c0 = None if c0_shape is None else parse_shape(c0_shape, "--c0-shape")
    report = api.diagnose(spec, x, h0, c0)
    render.emit(report, fmt)
    return EXIT_OK if report.fits else EXIT_CHECK_FAILED
