"""``rnninspect convert``."""

from __future__ import annotations

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import FILE, format_option, import_torch


@click.command()
@click.argument("file", type=FILE, metavar="FILE")
@click.option(
    "--to",
    "to",
    type=click.Choice(["keras", "torch", "onnx"]),
    required=True,
    help="keras: a torch checkpoint to .keras or .weights.h5; torch: a .keras or .weights.h5 "
    "file to a .pt or .safetensors state dict; onnx: a torch checkpoint's recurrent module to "
    "a .onnx file of ONNX's own LSTM/GRU/RNN operators that runs at every length and batch.",
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
@click.option(
    "--architecture",
    type=FILE,
    metavar="FILE.json",
    help="--to torch of a .weights.h5 file: the model's architecture (model.to_json(), or "
    "config.json inside a .keras file), so that its real layers, with their settings, are read "
    "and checked.",
)
@click.option(
    "--assume-defaults",
    is_flag=True,
    help="--to torch of a .weights.h5 file without --architecture: convert it with Keras's "
    "default settings assumed; every module is then 'unchecked', never pass.",
)
@click.option(
    "--batch-first",
    is_flag=True,
    help="--to onnx: the module is batch_first (a checkpoint does not record it), so the file "
    "takes and gives (N, L, ...).",
)
@click.option(
    "--weights",
    type=FILE,
    metavar="CHECKPOINT",
    help="--to onnx: FILE is then a SPEC (nn.LSTM(10, 20, batch_first=True)) that says what "
    "the weights do not record, and CHECKPOINT holds the weights.",
)
@click.option(
    "--packed",
    is_flag=True,
    help="--to onnx: add the input lengths (N, int32), every node's sequence_lens, for packed "
    "batches: output zero past each length, h_n the last valid step.",
)
@click.option(
    "--opset",
    type=int,
    metavar="N",
    help="--to onnx: the ONNX opset to write, 13 to 22.  [default: 17]",
)
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    metavar="R[,R...]",
    help="--to onnx: also run the staged file in these runtimes before writing it: openvino, "
    "tract, onnx-reference (ONNX Runtime always runs it).",
)
@format_option()
def convert(
    file: str,
    to: str,
    output: str,
    prefix: str | None,
    nonlinearity: str | None,
    architecture: str | None,
    assume_defaults: bool,
    weights: str | None,
    batch_first: bool,
    packed: bool,
    opset: int | None,
    runtimes: tuple[str, ...],
    fmt: str,
) -> int:
    """Convert recurrent weights between a torch checkpoint and Keras, layer by layer, or
    write a checkpoint's recurrent module as an ONNX file (--to onnx).

    --to keras reads FILE as infer does (weights only) and writes a Keras model (.keras) or
    its weights (.weights.h5); --to torch reads a .keras file (safe_mode), or a .weights.h5 file
    with the model's --architecture, and writes a torch state dict (.pt) or .safetensors.
    Prints the mapping applied to every weight, the torch code a Keras setting needs after the
    module (go_backwards, merge_mode), and every tensor or layer left behind. Before OUT is
    written, every converted module is run in both frameworks on the same input (the model's
    own Keras layers; torch's module read back from OUT); a module that does not match leaves
    OUT as it was (exit 1). What cannot convert exactly is refused with the reason (exit 2).
    Needs rnninspect[keras] (exit 3 without it).

    --to onnx writes ONNX's own LSTM/GRU/RNN operators, one node a layer, L and N symbolic,
    and writes OUT only after the staged file ran in ONNX Runtime (and each --runtime) at many
    lengths and batches and matched the reference. Needs rnninspect[onnx].
    """
    if to == "onnx":
        keras_only = {"--architecture": architecture, "--assume-defaults": assume_defaults}
        for name, given in keras_only.items():
            if given:
                raise click.UsageError(f"{name} has no meaning for --to onnx: it reads Keras files")
        spec_text = None
        if weights is not None:  # FILE is the SPEC, the weights are in CHECKPOINT
            file, spec_text = weights, file
        return _to_onnx(
            file, output, prefix, nonlinearity, batch_first, packed, opset, runtimes, fmt, spec_text
        )
    onnx_only: dict[str, object] = {
        "--weights": weights,
        "--batch-first": batch_first,
        "--packed": packed,
        "--opset": opset,
        "--runtime": runtimes,
    }
    for name, value in onnx_only.items():
        if value:
            raise click.UsageError(f"{name} is for --to onnx only")
    import_torch()
    from rnninspect import api, render

    report = api.convert(file, to, output, prefix, nonlinearity, architecture, assume_defaults)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    render.emit(report, fmt)
    # unchecked is reached only where --assume-defaults asked for it
    return ExitCode.CHECK_FAILED if report.verdict == "fail" else ExitCode.OK


def _to_onnx(
    file: str,
    output: str,
    prefix: str | None,
    nonlinearity: str | None,
    batch_first: bool,
    packed: bool,
    opset: int | None,
    runtimes: tuple[str, ...],
    fmt: str,
    spec_text: str | None = None,
) -> int:
    import_torch()
    from rnninspect import api, render
    from rnninspect.core.onnx_runtimes import RUNTIMES

    names = ["onnxruntime"]
    for text in runtimes:
        for name in (part.strip() for part in text.split(",")):
            if name not in RUNTIMES:
                raise click.UsageError(f"--runtime {name}: the runtimes are {', '.join(RUNTIMES)}")
            names.append(name)
    report = api.convert_to_onnx(
        file,
        output,
        prefix,
        nonlinearity,
        batch_first,
        opset,
        list(dict.fromkeys(names)),
        packed,
        spec_text,
    )
    render.emit(report, fmt)
    return ExitCode.OK if report.written else ExitCode.CHECK_FAILED
