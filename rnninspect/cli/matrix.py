"""``rnninspect matrix``, and the size check that ``--yes`` answers."""

from __future__ import annotations

import sys
from typing import Any

import click

from rnninspect.base.errors import ExitCode
from rnninspect.cli.options import (
    FILE,
    allow_inconclusive_option,
    device_option,
    dtype_option,
    format_option,
    import_torch,
    progress_bar,
    timeout_option,
    user_code_output,
)
from rnninspect.model.spec import SpecError


@click.command()
@click.argument("file", type=FILE, metavar="FILE.toml")
@click.option(
    "--junit-xml",
    type=FILE,
    metavar="PATH",
    help="Also write the results as JUnit XML, one testcase per case, for CI servers.",
)
@click.option("--fail-fast", is_flag=True, help="Stop after the first case that does not pass.")
@device_option("For every case.")
@dtype_option("For every case.")
@allow_inconclusive_option("Count inconclusive cases (explained by the noise floor) as passing.")
@timeout_option(
    "Fail a case that takes longer than S seconds, unless the file sets its own timeout.  "
    "[default: 600]"
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Run only the K-th of N slices of the cases, balanced by estimated cost and the same "
    "on every machine, for a CI job matrix of N jobs.",
)
@click.option(
    "--jobs",
    "jobs_text",
    metavar="J|auto",
    default="1",
    show_default=True,
    help="Verify in J worker processes (auto: one per core); the results are the same, in the "
    "same order.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Run a matrix estimated over 10 minutes or 1,000 cases without asking.",
)
@format_option()
def matrix(
    file: str,
    junit_xml: str | None,
    fail_fast: bool,
    device: str,
    dtype: str,
    allow_inconclusive: bool,
    timeout: float | None,
    shard: str | None,
    jobs_text: str,
    yes: bool,
    fmt: str,
) -> int:
    """Verify every configuration of a TOML file in one process, for CI.

    The file has optional [defaults], any number of [[case]] tables (a spec and/or options,
    optional name and impl) and an optional [matrix] of lists, combined in every way. The whole
    file is validated before anything runs (exit 2 naming the case); then each case is verified
    as verify does, without timing. Exit 0 when every case passes, 1 when any fails.
    """
    from pathlib import Path

    from rnninspect.commands.matrix.workers import parse_jobs, prepare_threads

    jobs = parse_jobs(jobs_text)
    prepare_threads(jobs)  # before torch is imported

    import_torch()
    from rnninspect import api, render
    from rnninspect.commands.matrix import shards
    from rnninspect.files import output

    if shard is not None:
        shards.parse_shard(shard)  # a bad --shard is refused before anything is read
    target = None if junit_xml is None else output.target(junit_xml, "--junit-xml")
    with user_code_output():
        cases = api.load_matrix(Path(file), device, dtype, timeout, shard)
        _confirm_size(cases, jobs, yes)
    if target is not None:  # a failing report stands until the real one replaces it
        output.write_atomically(target, render.matrix.junit_unfinished(file), "--junit-xml")
    with progress_bar("verifying") as tick, user_code_output():
        report = api.matrix(
            cases,
            file,
            device=device,
            dtype=dtype,
            fail_fast=fail_fast,
            allow_inconclusive=allow_inconclusive,
            progress=tick,
            jobs=jobs,
            shard=shard,
        )
    render.emit(report, fmt)
    if target is not None:
        output.write_atomically(target, render.matrix.junit_xml(report), "--junit-xml")
    return ExitCode.OK if report.ok else ExitCode.CHECK_FAILED


def _confirm_size(cases: list[Any], jobs: int, yes: bool) -> None:
    """Past 1,000 cases or an estimated 10 minutes, say so and go on only with --yes or the
    user's answer at a terminal, so a typo in an axis never burns an hour of CI."""
    from rnninspect.commands.matrix import shards

    seconds = shards.estimate(cases, jobs, 1.0)
    if len(cases) <= shards.ASK_CASES and seconds <= shards.ASK_SECONDS / 4:
        return  # no machine is four times slower than the one the cost model was fitted on
    seconds = shards.estimate(cases, jobs, shards.calibration())
    if len(cases) <= shards.ASK_CASES and seconds <= shards.ASK_SECONDS:
        return
    plural = "s" if len(cases) != 1 else ""
    size = f"{len(cases):,} case{plural}, estimated {_duration(seconds)} with --jobs {jobs} here"
    if yes:
        click.echo(f"Note: {size}", err=True)
        return
    if sys.stdin.isatty() and sys.stderr.isatty():
        if click.confirm(f"{size}. Run them?", err=True):
            return
        raise SpecError("not run: answered no")
    raise SpecError(f"{size}: pass --yes to run them (--shard K/N splits them across jobs)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
