"""``rnninspect diagnose``: each misfit with its hint, torch's own verdict beside ours."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import markdown_table, shape_text
from rnninspect.reports.diagnose import DiagnoseReport


def _given(report: DiagnoseReport) -> str:
    parts = [f"{name} {shape_text(shape)}" for name, shape in report.shapes.items() if shape]
    if report.spec.lengths is not None:
        parts.append("lengths " + ",".join(str(n) for n in report.spec.lengths))
    return "Given: " + ", ".join(parts)


def _torch_line(report: DiagnoseReport) -> str:
    if report.torch_note:
        return report.torch_note[0].upper() + report.torch_note[1:] + "."
    if not report.torch_ran and report.torch_error is None:
        return "torch was not run."
    if report.torch_error is None and report.spec.lengths is not None:
        return "torch ran these shapes, packed with enforce_sorted=False, without error."
    if report.torch_error is None:
        return "torch ran these shapes without error."
    return f"torch says: {report.torch_error}"


def _diagnose_verdict(report: DiagnoseReport) -> str:
    if report.fits:
        return "These shapes fit."
    count = len(report.problems)
    return f"{count} problem{'s' if count != 1 else ''}: these shapes do not fit."


def diagnose_table(report: DiagnoseReport) -> RenderableType:
    """The ``table`` view of ``rnninspect diagnose``."""
    spec = report.spec.to_spec_string()
    parts: list[RenderableType] = [Text(spec, style="bold"), Text(_given(report)), Text("")]
    for problem in report.problems:
        where = problem.tensor if problem.dim is None else f"{problem.tensor}, dim {problem.dim}"
        parts.append(
            Text(
                f"{where}: got {problem.got_text}, expected {problem.wanted_text} "
                f"({problem.meaning})",
                style="bold red",
            )
        )
        parts.append(Text(f"  hint: {problem.hint}"))
    if report.problems:
        parts.append(Text(""))
    if report.fits:
        parts += [Text(line) for line in report.read_as]
    parts.append(Text(_torch_line(report), style="dim"))
    parts.append(Text(_diagnose_verdict(report), style="green" if report.fits else "bold red"))
    return Group(*parts)


def diagnose_markdown(report: DiagnoseReport) -> str:
    """The ``markdown`` view of ``rnninspect diagnose``."""
    out = [f"**`{report.spec.to_spec_string()}`** · {_given(report)}\n\n"]
    if report.problems:
        rows = [
            (
                p.tensor,
                "" if p.dim is None else str(p.dim),
                p.got_text,
                p.wanted_text,
                p.meaning,
                p.hint,
            )
            for p in report.problems
        ]
        out.append(markdown_table(("tensor", "dim", "got", "expected", "meaning", "hint"), rows))
        out.append("\n")
    if report.fits:
        out += [f"{line}\n\n" for line in report.read_as]
    out.append(f"{_torch_line(report)}\n\n**{_diagnose_verdict(report)}**\n")
    return "".join(out)
