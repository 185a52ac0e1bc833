"""``rnninspect vectors``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import FILE, dtype_option, import_torch, with_config


@click.command()
@with_config(with_format=False)
@click.option(
    "-o",
    "--output",
    type=FILE,
    metavar="DIR",
    help="The folder to write (new or empty): the vector file and manifest.json, or with "
    "--matrix one folder per case.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["npz", "safetensors", "json"]),
    default="npz",
    show_default=True,
    help="The vector file: numpy's .npz, .safetensors, or JSON (shapes and flat row-major "
    "lists, for languages with no tensor reader).",
)
@click.option(
    "--layout",
    "layouts",
    multiple=True,
    type=click.Choice(["torch", "onnx", "keras"]),
    help="Also write the parameters in ONNX's (W, R, B per layer) or Keras's (set_weights) "
    "layout; torch's names are always written.",
)
@click.option(
    "--matrix",
    type=FILE,
    metavar="FILE.toml",
    help="Write one folder per case of a matrix file, as matrix expands it.",
)
@dtype_option("dtype torch's module is verified in, for the manifest's measured errors.")
@click.option(
    "--check",
    "check_dir",
    type=FILE,
    metavar="DIR",
    help="Derive a folder's vectors again from its manifest and report every tensor that "
    "moved (another torch's initialisation, say); exit 1 if one did.",
)
@click.option(
    "--report",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="How the report is printed: table for a person, json for scripts, markdown for "
    "issues and PRs (--format names the vector file here).",
)
def vectors(
    spec: Any,
    output: str | None,
    file_format: str,
    layouts: tuple[str, ...],
    matrix: str | None,
    dtype: str,
    check_dir: str | None,
    fmt: str,
) -> int:
    """Golden numbers for a port of torch's recurrent layers, in files any language reads.

    For one configuration and seed: the input, every parameter under torch's names, the
    initial states, the outputs and final states, an upstream gradient and the gradients of
    the input, the states and every parameter, all computed by rnninspect's float64 reference;
    and torch's module verified on them in --dtype, with each error and the tolerance verify
    applies in manifest.json, so a port knows how close it must come.
    """
    import_torch()
    from rnninspect import api, render

    if check_dir is not None:
        if output is not None or matrix is not None:
            raise click.UsageError("--check DIR reads a folder: it takes no -o or --matrix")
        checked = api.check_vectors(check_dir)
        render.emit(checked, fmt)
        return ExitCode.OK if checked.ok else ExitCode.CHECK_FAILED
    if output is None:
        raise click.UsageError("give -o DIR to write the vectors (or --check DIR to re-derive)")
    if matrix is not None and click.get_current_context().params.get("spec_text") is not None:
        raise click.UsageError("--matrix FILE gives the configurations: it takes no SPEC")
    report = api.vectors(spec, output, file_format, layouts, matrix=matrix, dtype=dtype)
    render.emit(report, fmt)
    return ExitCode.OK
