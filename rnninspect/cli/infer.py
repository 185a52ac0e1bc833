"""``rnninspect infer``."""

from __future__ import annotations

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import (
    FILE,
    format_option,
    import_torch,
    max_memory_option,
)


@click.command()
@click.argument("file", type=FILE, metavar="FILE")
@max_memory_option("Refuse a checkpoint that would load more than SIZE.")
@format_option()
def infer(file: str, max_memory: str | None, fmt: str) -> int:
    """Every recurrent module in a checkpoint, and a SPEC that rebuilds it.

    Reads shapes only, no tensor data: .pt/.pth/.bin with torch.load(weights_only=True) on the
    meta device (never plain unpickling), .safetensors and .npz from their headers; weight_norm
    and pruned weights are rebuilt. Infers cell, sizes, layers, bias, directions and proj_size
    from the shapes. Exit 0 when modules are found, 1 when none is or a group is inconsistent,
    2 when the file cannot be read.
    """
    import_torch()
    from rnninspect import api, render
    from rnninspect.files.checkpoint import torch_version_warning
    from rnninspect.model import memory

    warning = torch_version_warning()
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    limit = None if max_memory is None else memory.parse_size(max_memory)
    report = api.infer(file, limit)
    render.emit(report, fmt)
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
