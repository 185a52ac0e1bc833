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
@format_option()
def convert(
    file: str,
    to: str,
    output: str,
    prefix: str | None,
    nonlinearity: str | None,
    architecture: str | None,
    assume_defaults: bool,
    fmt: str,
) -> int:
    """Convert recurrent weights between a torch checkpoint and Keras, layer by layer.

    --to keras reads FILE as infer does (weights only) and writes a Keras model (.keras) or
    its weights (.weights.h5); --to torch reads a .keras file (safe_mode), or a .weights.h5 file
    with the model's --architecture, and writes a torch state dict (.pt) or .safetensors.
    Prints the mapping applied to every weight, the torch code a Keras setting needs after the
    module (go_backwards, merge_mode), and every tensor or layer left behind. Before OUT is
    written, every converted module is run in both frameworks on the same input (the model's
    own Keras layers; torch's module read back from OUT); a module that does not match leaves
    OUT as it was (exit 1). What cannot convert exactly is refused with the reason (exit 2).
    Needs rnninspect[keras] (exit 3 without it).
    """
    import_torch()
    from rnninspect import api, render

    report = api.convert(file, to, output, prefix, nonlinearity, architecture, assume_defaults)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    render.emit(report, fmt)
    # unchecked is reached only where --assume-defaults asked for it
    return ExitCode.CHECK_FAILED if report.verdict == "fail" else ExitCode.OK
