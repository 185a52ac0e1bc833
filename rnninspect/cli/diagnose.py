"""``rnninspect diagnose``."""

from __future__ import annotations

from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import import_torch, with_config

_FROM_INPUT = "the batch and sequence length are read from --input-shape"


@click.command()
@with_config(
    refused={
        "batch": _FROM_INPUT,
        "seq_len": _FROM_INPUT,
        "unbatched": "a 2-D --input-shape is read as unbatched, as torch reads it",
        "seed": "it runs torch on zeros and draws no random numbers",
    }
)
@click.option("--input-shape", required=True, metavar="5,7,10", help="The input's shape.")
@click.option("--h0-shape", metavar="2,7,20", help="h0's shape, if you pass one.")
@click.option("--c0-shape", metavar="2,7,20", help="c0's shape (LSTM), if you pass one.")
def diagnose(
    spec: Any, fmt: str, input_shape: str, h0_shape: str | None, c0_shape: str | None
) -> int:
    """Whether the shapes you have fit this module, and if not, why.

    The batch and sequence length come from --input-shape, read as torch reads it; --lengths
    packs the input as pack_padded_sequence does and is checked against it. Each misfit names
    the tensor, the dimension, what was given and expected, and a hint at the likely cause.
    torch is also run on zeros of those shapes, in a child process, and its own error is quoted.
    Exit 0 when everything fits, 1 when something does not, 2 for unparsable shapes.
    """
    from rnninspect.commands.diagnose.probe import warm_up

    warm_up()  # torch's probe imports torch beside this process, not after it
    import_torch()
    from rnninspect import api, render
    from rnninspect.commands.diagnose.diagnose import parse_shape

    x = parse_shape(input_shape, "--input-shape")
    h0 = None if h0_shape is None else parse_shape(h0_shape, "--h0-shape")
    c0 = None if c0_shape is None else parse_shape(c0_shape, "--c0-shape")
    report = api.diagnose(spec, x, h0, c0)
    render.emit(report, fmt)
    return ExitCode.OK if report.fits else ExitCode.CHECK_FAILED
