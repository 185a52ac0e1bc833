"""``rnninspect bench``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import (
    device_option,
    dtype_option,
    import_torch,
    max_memory_option,
    progress_bar,
    runtime_options,
    tf32_option,
    weights_options,
    with_config,
)


@click.command()
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
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    metavar="N",
    help="Time on N CPU threads (torch.set_num_threads).  [default: torch's, the cores here]",
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
    import_torch()
    from rnninspect import api, render
    from rnninspect.model import memory

    limit = None if max_memory is None else memory.parse_size(max_memory)
    given["runtimes"] = given["runtimes"] or None
    given["impls"] = tuple(dict.fromkeys(given["impls"]))
    if sweep_text is None:
        report = api.bench(spec, **given, max_memory=limit)
    else:
        name = sweep_text.partition("=")[0].strip()
        with progress_bar(f"sweeping {name}") as tick:
            report = api.sweep(
                spec,
                sweep_text,
                lambda done, total: tick(done, total, ""),
                **given,
                max_memory=limit,
            )
    for message in report.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    if report.sweep_warning:
        click.echo(f"Warning: {report.sweep_warning}", err=True)
    render.emit(report, fmt)
    return ExitCode.CHECK_FAILED if report.runtime_errors else ExitCode.OK
