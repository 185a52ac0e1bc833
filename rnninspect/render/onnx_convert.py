"""``rnninspect convert FILE --to onnx``: the graph written (its nodes, inputs and outputs),
then one table per runtime, a row per output at the worst shape, and whether OUT was
written."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import VERDICT_STYLE, error_text, markdown_table, titled_table
from rnninspect.reports.conformance import OutputRow
from rnninspect.reports.onnx_convert import OnnxConvertReport, RuntimeCheck

_STYLES = {**VERDICT_STYLE, "unsupported": "yellow"}


def _rows(run: RuntimeCheck) -> list[tuple[str, str, str, str]]:
    """A row per output: its worst error over every shape, where that was, and its verdict."""
    by_tensor: dict[str, list[OutputRow]] = {}
    for row in run.check.rows:
        by_tensor.setdefault(row.tensor, []).append(row)
    shown: list[tuple[str, str, str, str]] = []
    for tensor, rows in by_tensor.items():
        known = [r for r in rows if r.max_abs_err == r.max_abs_err]  # not nan
        worst = max(known, key=lambda r: r.max_abs_err) if known else rows[0]
        verdicts = {r.verdict for r in rows}
        verdict = next(v for v in ("fail", "inconclusive", "pass") if v in verdicts)
        shown.append(
            (
                tensor,
                error_text(worst.max_abs_err if known else None),
                f"L={worst.seq_len} N={worst.batch}",
                verdict,
            )
        )
    return shown


def _header(report: OnnxConvertReport) -> list[str]:
    return [
        f"{report.source} -> {report.output} (--to onnx, opset {report.opset})",
        f"module: {report.spec}",
        *[f"node {line}" for line in report.nodes],
        f"inputs: {', '.join(report.inputs)}",
        f"outputs: {', '.join(report.outputs)}",
    ]


def _shapes(report: OnnxConvertReport) -> str:
    lengths = sorted({s for s, _ in report.shapes})
    batches = sorted({n for _, n in report.shapes})
    return (
        f"{len(report.shapes)} shapes: L in {', '.join(map(str, lengths))} × N in "
        f"{', '.join(map(str, batches))}"
    )


def _footer(report: OnnxConvertReport) -> str:
    if report.written:
        return f"Written: {report.output} ({report.verdict} in every runtime)."
    return f"Not written: {report.output} is as it was ({report.verdict})."


def onnx_convert_table(report: OnnxConvertReport) -> RenderableType:
    """The ``table`` view."""
    parts: list[RenderableType] = [Text(line) for line in _header(report)]
    for run in report.runtimes:
        table = titled_table(run.version)
        table.add_column("output", style="cyan")
        table.add_column("worst error", justify="right", no_wrap=True)
        table.add_column("at", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for tensor, error, at, verdict in _rows(run):
            table.add_row(tensor, error, at, Text(verdict, style=_STYLES.get(verdict, "dim")))
        parts += [Text(""), table, Text(f"{_shapes(report)}, each against the reference")]
        message = run.check.message()
        if message:
            verdict = run.check.verdict
            parts.append(Text(f"{verdict}  {message}", style=_STYLES.get(verdict, "dim")))
    parts += [Text(f"Note: {note}", style="dim") for note in report.notes]
    style = "green" if report.written else "bold red"
    parts += [Text(""), Text(_footer(report), style=style)]
    return Group(*parts)


def onnx_convert_markdown(report: OnnxConvertReport) -> str:
    """The ``markdown`` view."""
    head = _header(report)
    out = [f"**`{report.source}` -> `{report.output}`** (`--to onnx`, opset {report.opset})\n\n"]
    out += [f"- {line}\n" for line in head[1:]]
    for run in report.runtimes:
        out.append(f"\n#### {run.version}: {_shapes(report)}\n\n")
        out.append(markdown_table(("output", "worst error", "at", "verdict"), _rows(run)))
        message = run.check.message()
        if message:
            out.append(f"\n- **{run.check.verdict}** {message}\n")
    out += [f"\nNote: {note}\n" for note in report.notes]
    out.append(f"\n**{_footer(report)}**\n")
    return "".join(out)
