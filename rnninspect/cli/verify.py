"""``rnninspect verify``."""

from __future__ import annotations

import sys
from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.onnx_file import onnx_file_mode, vectors_mode
from rnninspect.cli.options import (
    FILE,
    allow_inconclusive_option,
    device_option,
    dtype_option,
    import_torch,
    max_memory_option,
    runtime_options,
    tf32_option,
    timeout_option,
    user_code_output,
    weights_options,
    with_config,
)
from rnninspect.model.verdict import Verdict


@click.command()
@vectors_mode
@onnx_file_mode
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
    "--threads",
    type=click.IntRange(min=1),
    metavar="N",
    help="CPU threads to run on.  [default: one for a configuration whose steps are under 1 "
    "MFLOP, where more are no faster, else torch's]",
)
@click.option(
    "--timing",
    type=click.Choice(["off", "quick", "full"]),
    default="quick",
    show_default=True,
    help="The timing line: off; quick, in about the time the parity work took; full, 0.2 s a "
    "timing. bench is the place for careful numbers.",
)
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
    "--fullgraph",
    is_flag=True,
    help="--runtime compile: compile with fullgraph=True, so that a graph break (dynamo cannot "
    "trace nn.LSTM/GRU/RNN) fails with dynamo's reason instead of running eagerly.",
)
@click.option(
    "--onnx",
    type=FILE,
    metavar="FILE.onnx",
    help="Judge an ONNX file you have. With --weights: against torch's module holding them "
    "(inputs matched by name, else taken in order: input, h0, c0). Alone: every LSTM, GRU and "
    "RNN node in it, with the weights it holds, against ONNX's equations, run by itself and "
    "inside the whole graph (--runtime onnxruntime, openvino, tract, onnx-reference).",
)
@click.option(
    "--vectors",
    type=FILE,
    metavar="DIR",
    help="Check torch's module, or --impl, against a folder of saved vectors (rnninspect "
    "vectors -o DIR): the file's parameters, input, states and upstream gradients, every "
    "output and gradient compared with the file's, offline.",
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
    import_torch()
    from rnninspect import api, render
    from rnninspect.core.runs import ImplementationFailed
    from rnninspect.files.output import write_stream
    from rnninspect.model import memory
    from rnninspect.reports.common import versions
    from rnninspect.reports.verify import failed_run

    limit = None if max_memory is None else memory.parse_size(max_memory)
    given["runtimes"] = given["runtimes"] or None
    try:
        with user_code_output():
            report = api.verify(spec, **given, max_memory=limit)
    except ImplementationFailed as exc:
        if fmt == "json":  # CI reads stdout: one document, even when the run could not finish
            import torch

            impl = given["impl"] if isinstance(given["impl"], str) else None
            document = failed_run(
                spec,
                versions(torch.__version__),
                device=given["device"],
                dtype=given["dtype"],
                impl=impl,
                error=str(exc),
            )
            write_stream(sys.stdout, render.dumps(document) + "\n")
        raise
    for message in report.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    render.emit(report, fmt)
    if not Verdict.accepted(report.verdict, allow_inconclusive):
        return ExitCode.CHECK_FAILED
    if report.verdict == Verdict.INCONCLUSIVE:
        click.echo("Inconclusive rows allowed by --allow-inconclusive.", err=True)
    return ExitCode.OK
