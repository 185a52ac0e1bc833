"""``rnninspect explain``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import import_torch, with_config


@click.command()
@with_config
def explain(spec: Any, fmt: str) -> int:
    """The equations, shapes and unrolled network of the module, with checked relations.

    Writes the cell's equations with this configuration's sizes and the rows of each weight
    they use, every tensor with its dimensions explained, a diagram of the network unrolled in
    time (which cells make up output, which h_n), and the relations between output and h_n,
    each measured on the real module. Exit 1 if a relation does not hold.
    """
    import_torch()
    from rnninspect import api, render

    report = api.explain(spec)
    for message in report.shapes.warnings:
        click.echo(f"Warning: torch: {message}", err=True)
    render.emit(report, fmt)
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
