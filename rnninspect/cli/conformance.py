"""``rnninspect conformance``."""

from __future__ import annotations

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import FILE, format_option, import_torch, progress_bar

RUNTIMES = ("onnxruntime", "openvino", "tract", "onnx-reference")


@click.command()
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    metavar="R[,R...]",
    help="Run the suite in these runtimes: onnxruntime, openvino, tract, onnx-reference "
    "(ONNX's own ReferenceEvaluator); comma-separated or repeated. Each is an extra: "
    "pip install 'rnninspect[onnx]', 'rnninspect[openvino]', 'rnninspect[tract]'.",
)
@click.option(
    "--op",
    "ops",
    metavar="lstm,gru,rnn",
    help="Only these operators.  [default: all three]",
)
@click.option(
    "--filter",
    "text",
    metavar="TEXT",
    help="Only the cases whose name or attributes contain TEXT (or any of TEXT,TEXT2,...), "
    "case-insensitive: clip, layout1, lens, peepholes, bidirectional, f=Elu, opset7, ...",
)
@click.option(
    "--export",
    type=FILE,
    metavar="DIR",
    help="Write the selected cases to DIR (new or empty) in ONNX's backend-test layout: "
    "<case>/model.onnx and test_data_set_K/input_J.pb, output_J.pb, with a manifest.json.",
)
@click.option(
    "--junit-xml",
    type=FILE,
    metavar="PATH",
    help="Also write the results as JUnit XML: a testsuite per runtime, a testcase per case.",
)
@click.option(
    "--jobs",
    "jobs_text",
    metavar="J|auto",
    default="1",
    show_default=True,
    help="Run J cases at once, each in a process of its own (auto: one per core).",
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Run only the K-th of N slices of the selected cases (every N-th from the K-th), "
    "for a CI job matrix of N jobs.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Count unsupported cases (the runtime refused the model) as failures for the exit code.",
)
@format_option()
def conformance(
    runtimes: tuple[str, ...],
    ops: str | None,
    text: str | None,
    export: str | None,
    junit_xml: str | None,
    jobs_text: str,
    shard: str | None,
    strict: bool,
    fmt: str,
) -> int:
    """ONNX's LSTM, GRU and RNN operators in a runtime, against the equations.

    Builds single-node models that cover every attribute of the operators (gate orders,
    directions, layout, bias, initial states, sequence_lens, peepholes, clip, input_forget,
    linear_before_reset, every activation with its alpha and beta, the optional outputs,
    opsets 7, 14 and 22) with random weights, runs each at several lengths and batches, and
    judges every output against rnninspect's float64 reference of the ONNX equations. Each case
    is pass, fail (wrong numbers, a missing output, a crash), inconclusive, or unsupported (the
    runtime refused the model). Exit 0 when no case fails, 1 otherwise.
    """
    from rnninspect.commands.matrix.shards import parse_shard
    from rnninspect.commands.matrix.workers import parse_jobs
    from rnninspect.model.spec import SpecError

    chosen = [name.strip() for given in runtimes for name in given.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in RUNTIMES]
    if unknown:
        raise SpecError(f"--runtime {unknown[0]}: the runtimes are {', '.join(RUNTIMES)}")
    if not chosen and export is None:
        raise click.UsageError(
            f"give --runtime R ({', '.join(RUNTIMES)}) to run the suite, or --export DIR to "
            "write it"
        )
    jobs = parse_jobs(jobs_text)
    sliced = None if shard is None else parse_shard(shard)

    import_torch()
    from rnninspect import api, render
    from rnninspect.commands.conformance.conformance import parse_ops
    from rnninspect.files import output

    target = None if junit_xml is None else output.target(junit_xml, "--junit-xml")
    with progress_bar("conformance") as tick:
        report = api.conformance(
            chosen,
            ops=parse_ops(ops),
            text=text,
            shard=None if sliced is None else shard,
            export=export,
            jobs=jobs,
            strict=strict,
            progress=tick,
        )
    render.emit(report, fmt)
    if target is not None:
        output.write_atomically(target, render.conformance.junit_xml(report), "--junit-xml")
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
