"""``rnninspect shapes``: the tensors with each dimension named, the parameters by layer and
direction, the memory estimate.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.model.memory import format_bytes
from rnninspect.model.shapes import ParameterShape, TensorShape, direction_label
from rnninspect.model.spec import RNNSpec
from rnninspect.render.common import (
    dims_text,
    heading,
    markdown_table,
    shape_text,
    titled_table,
    wrap_items,
)
from rnninspect.reports.shapes import Measured, ShapesReport


def _legend(report: ShapesReport) -> str:
    """What each symbol of the dims column stands for, in the order they first appear."""
    seen: dict[str, str] = {}
    for row in report.tensors:
        if isinstance(row.predicted, TensorShape):
            for dim in row.predicted.dims:
                seen.setdefault(dim.symbol, dim.meaning)
    return wrap_items([f"{symbol} = {meaning}" for symbol, meaning in seen.items()])


def _packed_note(spec: RNNSpec) -> str | None:
    """What packing changes, for a learner: which steps count, and what h_n holds."""
    if spec.lengths is None:
        return None
    note = (
        "Packed with pack_padded_sequence(..., enforce_sorted=False): only each sequence's "
        "first lengths[i] steps are computed. output is padded back to seq_len with zeros "
        "after each sequence's end. h_n holds each sequence's own last valid step"
    )
    if spec.bidirectional:
        note += (
            " for the forward direction, and for the reverse direction the state after reading "
            "each sequence back from its own last step to its first"
        )
    return note + "."


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
    line = (
        f"Memory estimate (float32): {format_bytes(memory.shapes)} for this forward pass, "
        f"{format_bytes(memory.verify)} for verify; limit {format_bytes(report.memory_limit)}."
    )
    if memory.shapes > report.memory_limit:
        line += " Over the limit even for one forward pass: verify, bench and explain refuse it."
    elif memory.verify > report.memory_limit:
        line += " Over the limit for verify, which refuses it."
    return line


def _source_line(report: ShapesReport) -> str:
    """Said under every shapes table: where its shapes come from."""
    if report.checked_at is not None:
        lengths = " and ".join(f"L={length}" for length in report.checked_at)
        return (
            f"Tensor shapes from rnninspect's shape model at L={report.spec.seq_len:,}: torch's "
            f"meta forward steps through time one step at a time, so it ran at {lengths}, "
            "where every shape matched the shape model's; parameters from torch's module on "
            "the meta device."
        )
    if report.computed_on == "meta":
        return (
            "Shapes from torch's own forward pass on the meta device: every shape computed, "
            "no number, nothing allocated."
        )
    return f"Shapes from torch's own forward pass on the {report.computed_on.upper()}."


def tensor_parts(report: ShapesReport) -> list[RenderableType]:
    """The tensor table, the legend of its symbols, and what packing changes."""
    tensors = titled_table("Tensors")
    tensors.add_column("tensor", style="cyan", no_wrap=True)
    tensors.add_column("shape", no_wrap=True)
    tensors.add_column("dims")
    for row in report.tensors:
        tensors.add_row(row.name, shape_text(row.shape), dims_text(row))
    parts: list[RenderableType] = [tensors, Text(_legend(report), style="dim")]
    note = _packed_note(report.spec)
    if note:
        parts.append(Text(note))
    return parts


def shapes_table(report: ShapesReport) -> RenderableType:
    """The ``table`` view of ``rnninspect shapes``."""
    parts: list[RenderableType] = [Text(heading(report), style="bold"), Text("")]
    parts += tensor_parts(report)
    parts.append(Text(""))

    params = titled_table("Parameters")
    params.add_column("parameter", style="cyan", no_wrap=True)
    params.add_column("shape", no_wrap=True)
    params.add_column("numel", justify="right", no_wrap=True)
    params.add_column("rows")
    params.add_column("cols")
    for label, rows in _param_groups(report):
        params.add_row(Text(label, style="bold"))
        for row in rows:
            params.add_row(row.name, shape_text(row.shape), f"{row.numel:,}", *_axes(row))
        params.add_section()
    params.add_row(Text("total", style="bold"), "", f"{report.total_params:,}")
    parts += [
        params,
        Text(_memory_line(report), style="dim"),
        Text(_source_line(report), style="dim"),
    ]

    if report.mismatches:
        parts.append(
            Text("\nThe shape model disagrees with torch (a bug in rnninspect):", style="bold red")
        )
        parts += [Text(f"  {line}", style="red") for line in report.mismatches]
    return Group(*parts)


def shapes_markdown(report: ShapesReport) -> str:
    """The ``markdown`` view of ``rnninspect shapes``: GitHub-flavoured tables."""
    out = [f"**`{report.spec.to_spec_string()}`** · {heading(report).split(' · ', 1)[1]}\n\n"]
    out.append("#### Tensors\n\n")
    out.append(
        markdown_table(
            ("tensor", "shape", "dims"),
            ((f"`{r.name}`", shape_text(r.shape), dims_text(r)) for r in report.tensors),
        )
    )
    legend = _legend(report).replace("\n", " · ")
    note = _packed_note(report.spec)
    out.append(f"\n{legend}\n\n" + (f"{note}\n\n" if note else "") + "#### Parameters\n\n")
    rows: list[tuple[str, ...]] = []
    for label, group in _param_groups(report):
        rows += [
            (label, f"`{r.name}`", shape_text(r.shape), f"{r.numel:,}", *_axes(r)) for r in group
        ]
    rows.append(("**total**", "", "", f"**{report.total_params:,}**", "", ""))
    header = ("group", "parameter", "shape", "numel", "rows", "cols")
    out.append(markdown_table(header, rows))
    out.append(f"\n{_memory_line(report)}\n\n{_source_line(report)}\n")
    if report.mismatches:
        out.append("\n**The shape model disagrees with torch (a bug in rnninspect):**\n\n")
        out += [f"- {line}\n" for line in report.mismatches]
    return "".join(out)
