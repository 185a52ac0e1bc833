"""``rnninspect shapes``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import (
    import_torch,
    max_memory_option,
    with_config,
)


@click.command()
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
    import_torch()
    from rnninspect import api, render
    from rnninspect.model import memory

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
        return ExitCode.CHECK_FAILED
    return ExitCode.OK
