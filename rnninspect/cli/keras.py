"""``rnninspect keras`` and ``rnninspect convert``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import import_torch, with_config


@click.command()
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
    import_torch()
    from rnninspect import api, render

    report = api.keras(spec, check, reset_after)
    render.emit(report, fmt)
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
