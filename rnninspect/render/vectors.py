"""``rnninspect vectors``: what each folder holds (a row per tensor: role, shape, layout) and
torch's module's verdict on it; with ``--check``, a row per tensor that moved."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import error_text, markdown_table, titled_table
from rnninspect.reports.vectors import (
    VectorsCheckReport,
    VectorSet,
    VectorsReport,
    VectorsVerifyReport,
)


def _rows(entry: VectorSet) -> list[tuple[str, str, str, str]]:
    return [
        (t.name, t.role, "[" + ",".join(map(str, t.shape)) + "]", t.layout) for t in entry.tensors
    ]


def _torch_line(entry: VectorSet) -> str:
    return (
        f"torch's module in {entry.dtype} on these numbers: {entry.torch_verdict} "
        f"(worst error {error_text(entry.worst_torch_error)}; each row's error and tolerance "
        "in manifest.json)"
    )


def _written(report: VectorsReport) -> str:
    count = len(report.sets)
    what = "1 vector set" if count == 1 else f"{count} vector sets, a folder each"
    layouts = ", ".join(report.layouts)
    return f"Written: {what} to {report.folder} ({report.format}, layouts {layouts})."


def vectors_table(report: VectorsReport) -> RenderableType:
    parts: list[RenderableType] = []
    for entry in report.sets:
        table = titled_table(f"{entry.spec} ({entry.folder})")
        table.add_column("tensor", style="cyan", no_wrap=True)
        table.add_column("role")
        table.add_column("shape", no_wrap=True)
        table.add_column("layout", overflow="fold")
        for row in _rows(entry):
            table.add_row(*row)
        parts += [table, Text(_torch_line(entry)), Text("")]
    parts.append(Text(_written(report), style="green"))
    return Group(*parts)


def vectors_markdown(report: VectorsReport) -> str:
    out = []
    for entry in report.sets:
        out.append(f"#### `{entry.spec}` (`{entry.folder}`)\n\n")
        out.append(markdown_table(("tensor", "role", "shape", "layout"), _rows(entry)))
        out.append(f"\n{_torch_line(entry)}\n\n")
    out.append(f"**{_written(report)}**\n")
    return "".join(out)


def _check_summary(report: VectorsCheckReport) -> str:
    drifts = [d for _, found in report.sets for d in found]
    moved = sum(d.moved for d in drifts)
    versions = f"rnninspect {report.versions['rnninspect']}, torch {report.versions['torch']}"
    if moved:
        return f"{moved} of {len(drifts)} tensors moved when derived again here ({versions})."
    return f"All {len(drifts)} tensors derived again here ({versions}) match the stored ones."


def check_table(report: VectorsCheckReport) -> RenderableType:
    parts: list[RenderableType] = []
    for name, drifts in report.sets:
        table = titled_table(f"{name}: stored against derived again")
        table.add_column("tensor", style="cyan", overflow="fold")
        table.add_column("max |diff|", justify="right", no_wrap=True)
        table.add_column("status")
        for drift in drifts:
            style = "bold red" if drift.moved else "green"
            table.add_row(drift.tensor, error_text(drift.difference), Text(drift.status, style))
        parts.append(table)
    parts.append(Text(_check_summary(report), style="green" if report.ok else "bold red"))
    return Group(*parts)


def check_markdown(report: VectorsCheckReport) -> str:
    out = []
    for name, drifts in report.sets:
        out.append(f"#### {name}: stored against derived again\n\n")
        rows = [(d.tensor, error_text(d.difference), d.status) for d in drifts]
        out.append(markdown_table(("tensor", "max abs diff", "status"), rows))
        out.append("\n")
    out.append(f"**{_check_summary(report)}**\n")
    return "".join(out)


def _verify_head(report: VectorsVerifyReport) -> str:
    return (
        f"{report.implementation} in {report.dtype} against the vectors in {report.folder} "
        f"({report.spec}; written by {report.stored_by})"
    )


def _verify_rows(report: VectorsVerifyReport) -> list[tuple[str, str, str, str]]:
    return [
        (row.tensor, error_text(row.max_abs_err), f"{row.atol:g} / {row.rtol:g}", row.verdict)
        for row in report.rows
    ]


def verify_vectors_table(report: VectorsVerifyReport) -> RenderableType:
    table = titled_table(_verify_head(report))
    table.add_column("tensor", style="cyan", no_wrap=True)
    table.add_column("max abs err", justify="right", no_wrap=True)
    table.add_column("atol / rtol", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for tensor, error, tolerance, verdict in _verify_rows(report):
        style = "green" if verdict == "pass" else "bold red"
        table.add_row(tensor, error, tolerance, Text(verdict, style=style))
    parts: list[RenderableType] = [table]
    for row in report.rows:
        if row.verdict != "pass":
            parts.append(Text(f"fail  {row.line()}", style="bold red"))
    parts.append(Text(f"Verdict: {report.verdict}."))
    return Group(*parts)


def verify_vectors_markdown(report: VectorsVerifyReport) -> str:
    out = [f"#### {_verify_head(report)}\n\n"]
    out.append(
        markdown_table(("tensor", "max abs err", "atol / rtol", "verdict"), _verify_rows(report))
    )
    out += [f"\n- **fail** {row.line()}\n" for row in report.rows if row.verdict != "pass"]
    out.append(f"\nVerdict: **{report.verdict}**.\n")
    return "".join(out)
