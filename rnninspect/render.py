"""Reports as a person or a script reads them: rich tables, JSON, GitHub markdown.

Rendering never computes anything new: each view is made from the same report object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from rnninspect.memory import format_bytes
from rnninspect.report import Measured, ShapesReport
from rnninspect.shapes import ParameterShape, TensorShape, direction_label

FORMATS = ("table", "json", "markdown")


def emit(
    report: ShapesReport, fmt: str, file: IO[str] | None = None, width: int | None = None
) -> None:
    """Write a report to ``file`` (stdout by default) in one of :data:`FORMATS`."""
    console = Console(file=file, width=width, highlight=False, soft_wrap=False)
    if fmt == "json":
        console.file.write(to_json(report) + "\n")
    elif fmt == "markdown":
        console.file.write(shapes_markdown(report))
    else:
        console.print(shapes_table(report))


def to_json(report: ShapesReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


# ---------------------------------------------------------------------------------------------
# Pieces shared by the table and markdown views


def _shape(shape: Sequence[int] | None) -> str:
    return "absent" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def _dims(row: Measured) -> str:
    if not isinstance(row.predicted, TensorShape):
        return ""
    return " · ".join(f"{dim.symbol}={dim.size}" for dim in row.predicted.dims)


def _legend(report: ShapesReport) -> str:
    """What each symbol of the dims column stands for, in the order they first appear."""
    seen: dict[str, str] = {}
    for row in report.tensors:
        if isinstance(row.predicted, TensorShape):
            for dim in row.predicted.dims:
                seen.setdefault(dim.symbol, dim.meaning)
    return _wrap_items([f"{symbol} = {meaning}" for symbol, meaning in seen.items()])


def _wrap_items(items: Sequence[str], width: int = 78) -> str:
    """Join items with `` · ``, breaking lines between items, never inside one."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return "\n".join(lines)


def _heading(report: ShapesReport) -> str:
    spec = report.spec
    if spec.cell.is_cell:
        example = "unbatched input" if spec.unbatched else f"batch {spec.batch}"
    elif spec.unbatched:
        example = f"unbatched input · seq_len {spec.seq_len}"
    else:
        example = f"batch {spec.batch} · seq_len {spec.seq_len}"
    return f"{spec.to_spec_string()} · {example} · seed {spec.seed}"


def _param_groups(report: ShapesReport) -> list[tuple[str, list[Measured]]]:
    groups: dict[str, list[Measured]] = {}
    for row in report.parameters:
        label = (
            direction_label(report.spec, row.predicted)
            if isinstance(row.predicted, ParameterShape)
            else "not in the shape model"
        )
        groups.setdefault(label, []).append(row)
    return list(groups.items())


def _axes(row: Measured) -> tuple[str, str]:
    """What the rows and the columns of a parameter hold."""
    if isinstance(row.predicted, ParameterShape):
        return row.predicted.rows, row.predicted.cols
    return "", ""


def _memory_line(report: ShapesReport) -> str:
    memory = report.memory
    return (
        f"Memory estimate (float32): {format_bytes(memory.shapes)} for this forward pass, "
        f"{format_bytes(memory.verify)} for verify; limit {format_bytes(report.memory_limit)}."
    )


# ---------------------------------------------------------------------------------------------
# Table view


def shapes_table(report: ShapesReport) -> RenderableType:
    """The ``table`` view of ``rnninspect shapes``."""
    parts: list[RenderableType] = [Text(_heading(report), style="bold"), Text("")]

    tensors = Table(title="Tensors", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    tensors.add_column("tensor", style="cyan", no_wrap=True)
    tensors.add_column("shape", no_wrap=True)
    tensors.add_column("dims")
    for row in report.tensors:
        tensors.add_row(row.name, _shape(row.shape), _dims(row))
    parts += [tensors, Text(_legend(report), style="dim"), Text("")]

    params = Table(title="Parameters", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    params.add_column("parameter", style="cyan", no_wrap=True)
    params.add_column("shape", no_wrap=True)
    params.add_column("numel", justify="right", no_wrap=True)
    params.add_column("rows")
    params.add_column("cols")
    for label, rows in _param_groups(report):
        params.add_row(Text(label, style="bold"))
        for row in rows:
            params.add_row(row.name, _shape(row.shape), f"{row.numel:,}", *_axes(row))
        params.add_section()
    params.add_row(Text("total", style="bold"), "", f"{report.total_params:,}")
    parts += [params, Text(_memory_line(report), style="dim")]

    if report.mismatches:
        parts.append(
            Text("\nThe shape model disagrees with torch (a bug in rnninspect):", style="bold red")
        )
        parts += [Text(f"  {line}", style="red") for line in report.mismatches]
    return Group(*parts)


# ---------------------------------------------------------------------------------------------
# Markdown view


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    aligns = ["---:" if name in ("numel",) else "---" for name in header]
    return "\n".join([line(header), line(aligns), *(line(row) for row in rows)]) + "\n"


def shapes_markdown(report: ShapesReport) -> str:
    """The ``markdown`` view of ``rnninspect shapes``: GitHub-flavoured tables."""
    out = [f"**`{report.spec.to_spec_string()}`** · {_heading(report).split(' · ', 1)[1]}\n\n"]
    out.append("#### Tensors\n\n")
    out.append(
        _markdown_table(
            ("tensor", "shape", "dims"),
            ((f"`{r.name}`", _shape(r.shape), _dims(r)) for r in report.tensors),
        )
    )
    legend = _legend(report).replace("\n", " · ")
    out.append(f"\n{legend}\n\n#### Parameters\n\n")
    rows: list[tuple[str, ...]] = []
    for label, group in _param_groups(report):
        rows += [(label, f"`{r.name}`", _shape(r.shape), f"{r.numel:,}", *_axes(r)) for r in group]
    rows.append(("**total**", "", "", f"**{report.total_params:,}**", "", ""))
    header = ("group", "parameter", "shape", "numel", "rows", "cols")
    out.append(_markdown_table(header, rows))
    out.append(f"\n{_memory_line(report)}\n")
    if report.mismatches:
        out.append("\n**The shape model disagrees with torch (a bug in rnninspect):**\n\n")
        out += [f"- {line}\n" for line in report.mismatches]
    return "".join(out)
