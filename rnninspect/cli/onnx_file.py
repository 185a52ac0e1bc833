"""``rnninspect verify --onnx FILE`` without ``--weights``: the file's own recurrent nodes
against the ONNX equations. Taken before verify builds a module, since there is none."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import import_torch
from rnninspect.model.spec import option_name
from rnninspect.model.verdict import Verdict

#: What verify --onnx FILE without --weights takes; every other option is about a torch module.
FILE_MODE_OPTIONS = {
    "onnx",
    "seq_len",
    "batch",
    "seed",
    "runtimes",
    "other_seq_len",
    "other_batch",
    "fmt",
    "atol",
    "rtol",
    "allow_inconclusive",
}


def onnx_file_mode(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--onnx FILE`` without ``--weights`` checks the file's own recurrent nodes against the
    ONNX equations (:func:`rnninspect.api.verify_onnx_file`) instead of a torch module."""

    @functools.wraps(command)
    def wrapper(spec_text: str | None, **options: Any) -> Any:
        if options.get("onnx") is None or options.get("weights") is not None:
            return command(spec_text, **options)
        return _verify_onnx_file(spec_text, options)

    return wrapper


def _verify_onnx_file(spec_text: str | None, options: dict[str, Any]) -> int:
    from click.core import ParameterSource

    why = (
        "with --onnx FILE alone, the file's own nodes, attributes and weights are checked; "
        "give --weights to check the file against a torch module"
    )
    if spec_text is not None:
        raise click.UsageError(f"a SPEC has no meaning here: {why}")
    context = click.get_current_context()
    for key, value in options.items():
        source = context.get_parameter_source(key)
        given = source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        if key not in FILE_MODE_OPTIONS and given and value not in (None, ()):
            raise click.UsageError(f"{option_name(key)} has no meaning here: {why}")
    from rnninspect.core.onnx_runtimes import RUNTIMES

    runtimes = [
        name.strip() for text in options["runtimes"] or () for name in text.split(",") if name
    ] or ["onnxruntime"]
    for name in runtimes:
        if name not in RUNTIMES:
            raise click.UsageError(
                f"--runtime {name}: with --onnx FILE alone the runtimes are {', '.join(RUNTIMES)}"
            )

    def size(key: str, default: int) -> int:
        return default if options[key] is None else int(options[key])

    steps, batch = size("seq_len", 5), size("batch", 3)
    # and one step of one sequence, where an off-by-one in the time loop shows
    other = (size("other_seq_len", steps + 3), size("other_batch", batch + 1))
    shapes = [(steps, batch), other, (1, 1)]
    for name, value in (
        ("--seq-len", steps),
        ("--batch", batch),
        ("--other-seq-len", shapes[1][0]),
        ("--other-batch", shapes[1][1]),
    ):
        if value < 1:
            raise click.UsageError(f"{name} must be at least 1, not {value}")
    import_torch()
    from rnninspect import api, render

    report = api.verify_onnx_file(
        options["onnx"],
        runtimes=list(dict.fromkeys(runtimes)),
        shapes=list(dict.fromkeys(shapes)),
        seed=options["seed"] or 0,
        atol=options["atol"],
        rtol=options["rtol"],
    )
    render.emit(report, options["fmt"])
    if not Verdict.accepted(report.verdict, options["allow_inconclusive"]):
        return ExitCode.CHECK_FAILED
    return ExitCode.OK
