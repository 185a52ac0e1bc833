"""``rnninspect explain``: the equations, the tensors, the unrolled diagram and the relations
checked on the real module.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rnninspect.render.common import (
    dims_text,
    error_text,
    heading,
    markdown_table,
    shape_text,
    titled_table,
)
from rnninspect.render.shapes import tensor_parts
from rnninspect.reports.explain import ExplainReport


def _equation_rows(report: ExplainReport) -> list[tuple[str, str]]:
    """Each equation beside where its weights live (the lines that say where)."""
    rows = [line.partition("    ") for line in report.equations]
    return [(equation, where) for equation, sep, where in rows if sep]


def _equation_notes(report: ExplainReport) -> tuple[list[str], list[str]]:
    """The lines around the equations: what x, h and c are first, remarks after."""
    before: list[str] = []
    after: list[str] = []
    seen_equation = False
    for line in report.equations:
        if "    " in line:
            seen_equation = True
        else:
            (after if seen_equation else before).append(line)
    return before, after


def _relation_rows(report: ExplainReport) -> list[tuple[str, str, str, str]]:
    """lhs, rhs, what was found (against what was expected), the measured difference."""
    rows = []
    for r in report.relations:
        if r.expected:
            found = "holds" if r.holds else "DOES NOT HOLD"
        else:
            found = "differs, as it should" if not r.holds else "EQUAL, unexpectedly"
        rows.append((r.lhs, r.rhs, found, error_text(r.max_abs_err)))
    return rows


def _pitfall_notes(report: ExplainReport) -> list[str]:
    return [f"{r.lhs} is not {r.rhs}: {r.note}" for r in report.relations if not r.expected]


def _diagram_lines(report: ExplainReport, width: int) -> list[Text]:
    """The unrolled network, with fewer steps drawn where the full one is wider than the
    terminal (the report holds each); its grid never wraps, its legend does."""
    lines = report.diagram
    for fewer in report.narrower:
        if max(len(line) for line in _grid(lines)) <= width:
            break
        lines = fewer
    grid = set(_grid(lines))
    return [Text(line, no_wrap=line in grid, overflow="fold") for line in lines]


def _grid(lines: list[str]) -> list[str]:
    """The lines of the diagram that are drawing, not prose."""
    return [line for line in lines if line.startswith(("layer", " ", "x ──"))] or lines


def explain_table(report: ExplainReport, width: int = 80) -> RenderableType:
    """The ``table`` view of ``rnninspect explain``."""
    parts: list[RenderableType] = [Text(heading(report.shapes), style="bold"), Text("")]
    before, after = _equation_notes(report)
    equations = Table(box=box.SIMPLE, pad_edge=False, show_header=False)
    equations.add_column("equation", style="cyan")
    equations.add_column("weights", style="dim")
    for equation, where in _equation_rows(report):
        equations.add_row(equation, where)
    parts += [Text("Equations", style="bold"), *[Text(line) for line in before], equations]
    parts += [*[Text(line) for line in after], Text("")]
    parts += tensor_parts(report.shapes)
    parts += [Text(note) for note in report.notes]
    parts += [Text(""), Text("Unrolled", style="bold")]
    parts += _diagram_lines(report, width)
    if report.relations:
        relations = titled_table("Output and final state, checked on the real module")
        for header in ("lhs", "rhs", "", "max abs err"):
            right = header == "max abs err"
            relations.add_column(header, no_wrap=True, justify="right" if right else "left")
        for relation, (lhs, rhs, found, error) in zip(
            report.relations, _relation_rows(report), strict=True
        ):
            style = "green" if relation.as_expected else "bold red"
            relations.add_row(lhs, rhs, Text(found, style=style), error)
        parts += [Text(""), relations]
        parts += [Text(line) for line in _pitfall_notes(report)]
    if report.h_n_rows:
        parts += [Text(""), Text(_rows_title(report), style="bold")]
        parts += [Text(line) for line in report.h_n_rows]
        parts.append(Text(_view_hint(report), style="dim"))
    return Group(*parts)


def _rows_title(report: ExplainReport) -> str:
    return "Rows of h_n and c_n" if report.spec.has_cell_state else "Rows of h_n"


def _view_hint(report: ExplainReport) -> str:
    spec = report.spec
    batch = "" if spec.unbatched else "N, "
    return (
        f"h_n.view({spec.num_layers}, {spec.num_directions}, {batch}{spec.out_size}) indexes "
        "them as [layer, direction]."
    )


def explain_markdown(report: ExplainReport) -> str:
    """The ``markdown`` view of ``rnninspect explain``."""
    out = [
        f"**`{report.spec.to_spec_string()}`** · {heading(report.shapes).split(' · ', 1)[1]}\n\n"
    ]
    before, after = _equation_notes(report)
    out.append("#### Equations\n\n" + "".join(f"{line}\n\n" for line in before))
    rows = [(f"`{e}`", w) for e, w in _equation_rows(report)]
    out.append(markdown_table(("equation", "weights"), rows))
    out += [f"\n{line}\n" for line in after]
    out.append("\n#### Tensors\n\n")
    out.append(
        markdown_table(
            ("tensor", "shape", "dims"),
            ((f"`{r.name}`", shape_text(r.shape), dims_text(r)) for r in report.shapes.tensors),
        )
    )
    out += [f"\n{note}\n" for note in report.notes]
    out.append("\n#### Unrolled\n\n```\n" + "\n".join(report.diagram) + "\n```\n")
    if report.relations:
        out.append("\n#### Output and final state, checked on the real module\n\n")
        out.append(markdown_table(("lhs", "rhs", "found", "max abs err"), _relation_rows(report)))
        out += [f"\n- {line}" for line in _pitfall_notes(report)]
        out.append("\n")
    if report.h_n_rows:
        out.append(f"\n#### {_rows_title(report)}\n\n")
        out += [f"- `{line.split(':')[0]}`:{line.split(':', 1)[1]}\n" for line in report.h_n_rows]
        out.append(f"\n{_view_hint(report)}\n")
    return "".join(out)
