"""``rnninspect infer``: each recurrent module found, with the SPEC that rebuilds it."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rnninspect.base.text import printable
from rnninspect.render.common import markdown_table, shape_text
from rnninspect.reports.infer import InferReport


def _infer_blocks(report: InferReport) -> list[tuple[str, list[str], list[tuple[str, str, str]]]]:
    """Per module: a title, lines about it, and its parameter rows; every key made printable."""
    from rnninspect.reports.infer import Inconsistent

    blocks: list[tuple[str, list[str], list[tuple[str, str, str]]]] = []
    for module in report.modules:
        where = printable(module.prefix) or "(top level)"
        if isinstance(module, Inconsistent):
            blocks.append((where, [f"inconsistent: {printable(module.problem)}"], []))
            continue
        unknown = ", ".join(module.unknown)
        lines = [f"SPEC: {module.spec.to_spec_string()}"]
        if unknown:
            lines.append(
                f"not recorded by the weights: {unknown} (the SPEC takes torch's defaults)"
            )
        lines.append(f"total parameters: {module.total_params:,}")
        rows = []
        for name, shape in module.shapes.items():
            count = 1
            for size in shape:
                count *= size
            rows.append((printable(name), shape_text(shape), f"{count:,}"))
        blocks.append((where, lines, rows))
    return blocks


def _infer_summary(report: InferReport) -> str:
    found, total = len(report.found), len(report.modules)
    if not total:
        return f"No recurrent module among the {report.tensors} tensors of this file."
    bad = total - found
    text = f"{found} recurrent module{'s' if found != 1 else ''} found"
    return text + (f", {bad} inconsistent group{'s' if bad != 1 else ''}." if bad else ".")


def infer_table(report: InferReport) -> RenderableType:
    """The ``table`` view of ``rnninspect infer``; untrusted names are printed as Text, never
    as markup, after control characters are escaped."""
    parts: list[RenderableType] = [Text(f"Checkpoint: {printable(report.path)}", style="bold")]
    for title, lines, rows in _infer_blocks(report):
        parts.append(Text(""))
        parts.append(Text(title, style="bold cyan"))
        style = "bold red" if lines and lines[0].startswith("inconsistent") else ""
        parts += [Text(f"  {line}", style=style) for line in lines]
        if rows:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
            table.add_column("parameter", style="cyan")
            table.add_column("shape", no_wrap=True)
            table.add_column("numel", justify="right", no_wrap=True)
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            parts.append(table)
    if report.notes:
        parts.append(Text(""))
        parts += [Text(printable(note), style="dim") for note in report.notes]
    parts += [Text(""), Text(_infer_summary(report), style="green" if report.ok else "bold red")]
    return Group(*parts)


def infer_markdown(report: InferReport) -> str:
    """The ``markdown`` view of ``rnninspect infer``."""
    out = [f"#### Checkpoint `{printable(report.path)}`\n"]
    for title, lines, rows in _infer_blocks(report):
        out.append(f"\n**`{title}`**\n\n" + "".join(f"- {line}\n" for line in lines))
        if rows:
            out.append("\n" + markdown_table(("parameter", "shape", "numel"), rows))
    out += [f"\n{printable(note)}\n" for note in report.notes]
    out.append(f"\n**{_infer_summary(report)}**\n")
    return "".join(out)
