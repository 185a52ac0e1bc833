"""``rnninspect verify --onnx FILE`` without ``--weights``: one table per runtime (node, its
attributes, the verdict alone and in the graph, the worst error), then what did not pass."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import VERDICT_STYLE, error_text, markdown_table, titled_table
from rnninspect.reports.onnx_file import Check, OnnxFileReport, RuntimeNodes

_STYLES = {**VERDICT_STYLE, "unsupported": "yellow", "unchecked": "yellow"}


def _title(report: OnnxFileReport, run: RuntimeNodes) -> str:
    return f"{report.file} (opset {report.opset}) in {run.version}"


def _run_text(check: Check | None, not_run: str) -> str:
    return not_run if check is None else check.verdict


def _rows(run: RuntimeNodes) -> list[tuple[str, str, str, str, str]]:
    graph = "not run" if run.graph_not_run is not None else "-"
    return [
        (
            node.node,
            node.attributes,
            _run_text(node.alone, "-"),
            _run_text(node.in_graph, graph),
            error_text(node.worst_error),
        )
        for node in run.nodes
    ]


def _findings(run: RuntimeNodes) -> list[tuple[str, str]]:
    """(verdict, line) for each run that did not pass; one message that several nodes share
    (the whole graph failing) said once, naming them all."""
    lines: dict[tuple[str, str], list[str]] = {}
    for node in run.nodes:
        if node.problem is not None:
            lines.setdefault(("unchecked", node.problem), []).append(node.node)
        for where, check in (("alone", node.alone), ("in the graph", node.in_graph)):
            if check is not None and check.verdict != "pass":
                key = (check.verdict, check.message() or "")
                lines.setdefault(key, []).append(f"{node.node} {where}")
    found = [(verdict, f"{', '.join(names)}: {said}") for (verdict, said), names in lines.items()]
    if run.graph_not_run is not None:
        found.append(("unchecked", f"the whole graph was not run: {run.graph_not_run}"))
    return found


def _summary(report: OnnxFileReport, run: RuntimeNodes) -> str:
    shapes = ", ".join(f"(L={s}, N={n})" for s, n in report.shapes)
    count = len(run.nodes)
    text = f"{count} recurrent node{'s' if count > 1 else ''}, each alone at {shapes}"
    if run.graph_not_run is None:
        graph = ", ".join(f"(L={s}, N={n})" for s, n in run.graph_shapes)
        text += f" and in the whole graph at {graph}"
    return f"{text}: {run.verdict}."


def onnx_file_table(report: OnnxFileReport) -> RenderableType:
    """The ``table`` view."""
    parts: list[RenderableType] = []
    for run in report.runtimes:
        table = titled_table(_title(report, run))
        table.add_column("node", style="cyan", overflow="fold")
        table.add_column("operator", overflow="fold")
        table.add_column("alone", no_wrap=True)
        table.add_column("in graph", no_wrap=True)
        table.add_column("worst error", justify="right", no_wrap=True)
        for name, attributes, alone, in_graph, error in _rows(run):
            table.add_row(
                name,
                attributes,
                Text(alone, style=_STYLES.get(alone, "dim")),
                Text(in_graph, style=_STYLES.get(in_graph, "dim")),
                error,
            )
        parts.append(table)
        for verdict, line in _findings(run):
            parts.append(Text(f"{verdict}  {line}", style=_STYLES.get(verdict, "dim")))
        style = "green" if run.verdict == "pass" else "bold red"
        parts.append(Text(_summary(report, run), style=style))
    parts += [Text(note, style="dim") for note in report.notes]
    parts.append(Text(f"Verdict: {report.verdict}."))
    return Group(*parts)


def onnx_file_markdown(report: OnnxFileReport) -> str:
    """The ``markdown`` view."""
    out: list[str] = []
    for run in report.runtimes:
        out.append(f"#### `{report.file}` (opset {report.opset}) in {run.version}\n\n")
        rows = [
            (f"`{name}`", attributes, alone, in_graph, error)
            for name, attributes, alone, in_graph, error in _rows(run)
        ]
        out.append(markdown_table(("node", "operator", "alone", "in graph", "worst error"), rows))
        findings = _findings(run)
        if findings:
            out.append("\n" + "".join(f"- **{v}** {line}\n" for v, line in findings))
        out.append(f"\n**{_summary(report, run)}**\n\n")
    out += [f"{note}\n\n" for note in report.notes]
    out.append(f"Verdict: **{report.verdict}**.\n")
    return "".join(out)
