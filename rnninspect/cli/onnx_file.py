"""``rnninspect verify --onnx FILE`` without ``--weights`` (the file's own recurrent nodes
against the ONNX equations) and ``verify --vectors DIR`` (against saved vectors): taken before
verify builds a module from SPEC and CONFIG, which neither uses."""

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
        _refuse_others(spec_text, options, FILE_MODE_OPTIONS, _ONNX_WHY)
        return _verify_onnx_file(options)

    return wrapper


_ONNX_WHY = (
    "with --onnx FILE alone, the file's own nodes, attributes and weights are checked; give "
    "--weights to check the file against a torch module"
)
_VECTORS_WHY = "with --vectors DIR, the configuration and every number come from the folder"
#: What verify --vectors DIR takes.
VECTORS_OPTIONS = {
    "vectors",
    "impl",
    "dtype",
    "atol",
    "rtol",
    "timeout",
    "fmt",
    "allow_inconclusive",
}


def vectors_mode(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--vectors DIR``: torch's module or ``--impl`` against saved vectors
    (:func:`rnninspect.api.verify_vectors`)."""

    @functools.wraps(command)
    def wrapper(spec_text: str | None, **options: Any) -> Any:
        if options.get("vectors") is None:
            options.pop("vectors", None)  # verify's own path has no such option
            return command(spec_text, **options)
        _refuse_others(spec_text, options, VECTORS_OPTIONS, _VECTORS_WHY)
        import_torch()
        from rnninspect import api, render

        report = api.verify_vectors(
            options["vectors"],
            options["impl"],
            options["dtype"],
            options["atol"],
            options["rtol"],
            options["timeout"],
        )
        render.emit(report, options["fmt"])
        return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED

    return wrapper


def _refuse_others(
    spec_text: str | None, options: dict[str, Any], allowed: set[str], why: str
) -> None:
    """A SPEC, or an option outside ``allowed`` that the user gave, is refused (exit 2)."""
    from click.core import ParameterSource

    if spec_text is not None:
        raise click.UsageError(f"a SPEC has no meaning here: {why}")
    context = click.get_current_context()
    for key, value in options.items():
        source = context.get_parameter_source(key)
        given = source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        if key not in allowed and given and value not in (None, ()):
            raise click.UsageError(f"{option_name(key)} has no meaning here: {why}")


def _verify_onnx_file(options: dict[str, Any]) -> int:
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
