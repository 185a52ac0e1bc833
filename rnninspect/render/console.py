"""Writing a view to a stream: every table fitted to the width (stacked when too wide), every
string from outside escaped and never read as markup, no line ending in spaces, and our symbols
in ASCII where the stream cannot encode them.
"""

from __future__ import annotations

import io
import re

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from rnninspect.base.text import encodable, printable
from rnninspect.files.output import write_stream


def write_text(console: Console, text: str) -> None:
    """Markdown and JSON as the stream can take them: nothing unsafe from outside, our symbols
    in ASCII where the stream cannot encode them."""
    write_stream(console.file, encodable(printable(text), console.file))


def print_fitted(console: Console, renderable: RenderableType) -> None:
    """Print with every table fitted to the width, every string from outside escaped and never
    read as markup, no line ending in spaces, and our symbols in ASCII where the stream cannot
    encode them."""
    canvas = Console(
        file=io.StringIO(),
        width=console.width,
        force_terminal=console.is_terminal,
        color_system=console.color_system,  # type: ignore[arg-type]
        no_color=console.no_color,
        highlight=False,
        soft_wrap=False,
    )
    canvas.print(_fit(_safe(renderable), console.width))
    text = _TRAILING.sub(r"\1", canvas.file.getvalue())  # type: ignore[attr-defined]
    write_stream(console.file, encodable(text, console.file))


def _safe(renderable: RenderableType) -> RenderableType:
    """Strings as literal Text (rich would read ``[/]`` in a case name as markup) and control
    characters escaped, through groups and tables."""
    if isinstance(renderable, str):
        return Text(printable(renderable))
    if isinstance(renderable, Text):
        plain = renderable.plain
        if printable(plain) != plain:
            return Text(printable(plain), style=renderable.style)
        return renderable
    if isinstance(renderable, Group):
        return Group(*(_safe(part) for part in renderable.renderables))
    if isinstance(renderable, Table):
        if isinstance(renderable.title, str):
            renderable.title = Text(printable(renderable.title))
        for column in renderable.columns:
            column._cells = [_safe(cell) for cell in column._cells]
        return renderable
    return renderable


#: Spaces at the end of a line, before any closing colour codes.
_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def _fit(renderable: RenderableType, width: int) -> RenderableType:
    """A table too wide for ``width`` stays a table where wrapping its cells (at spaces, in the
    columns that allow it) fits it; only one that even wrapped would not fit is stacked, one
    block per row, rather than squeezed until rich cuts its cells or drops a column."""
    if isinstance(renderable, Group):
        return Group(*(_fit(part, width) for part in renderable.renderables))
    if isinstance(renderable, Table) and _natural_width(renderable) > width:
        widths = _wrapped_widths(renderable, width)
        if widths is None:
            return _stacked(renderable)
        for column, fixed in zip(renderable.columns, widths, strict=True):
            column.width = fixed
    return renderable


def _natural_width(table: Table) -> int:
    """The width the table takes with no cell cut or wrapped."""
    wide = Console(width=100_000)
    return Measurement.get(wide, wide.options, table).maximum


def _wrapped_widths(table: Table, width: int) -> list[int] | None:
    """Column widths that fit the table in ``width`` with its cells wrapped at spaces and no
    word cut: every column at least as wide as its longest word (the whole cell where it may
    not wrap), the room left shared out where the lines are longest; None where not even that
    fits. rich's own squeezing cuts words short with "…", so the widths are fixed here."""
    lines = [[_as_text(cell).plain for cell in column.cells] for column in table.columns]
    headers = [str(column.header) for column in table.columns]
    longest = [
        max((len(line) for text in [header, *cells] for line in text.splitlines()), default=0)
        for header, cells in zip(headers, lines, strict=True)
    ]
    shortest = [
        full
        if column.no_wrap
        else max((len(word) for text in [header, *cells] for word in text.split()), default=0)
        for column, header, cells, full in zip(table.columns, headers, lines, longest, strict=True)
    ]
    room = width - (_natural_width(table) - sum(longest))  # less borders and padding
    if sum(shortest) > room:
        return None
    widths = list(shortest)
    spare = room - sum(widths)
    while spare > 0:  # one column at a time, the one furthest from its full width
        gaps = [full - now for full, now in zip(longest, widths, strict=True)]
        widest = max(range(len(gaps)), key=gaps.__getitem__)
        if gaps[widest] <= 0:
            break
        widths[widest] += 1
        spare -= 1
    return widths


def _stacked(table: Table) -> RenderableType:
    """Each row as its first cell, then one ``header: value`` line per other cell; a row with
    only its first cell (a group heading) stays one line."""
    lines: list[RenderableType] = []
    if table.title:
        lines.append(Text(str(table.title), style="bold"))
    headers = [" ".join(str(column.header).split()) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    for row in range(table.row_count):
        values = [_as_text(cells[c][row]) for c in range(len(cells))]
        first, rest = values[0], values[1:]
        if not any(value.plain.strip() for value in rest):
            if first.plain.strip():
                lines.append(first)
            continue
        if first.plain.strip().replace(".", "", 1).isdigit() and headers[0]:
            first = Text(f"{headers[0]}={first.plain.strip()}", style="bold")
        lines.append(first)
        for header, value in zip(headers[1:], rest, strict=True):
            if value.plain.strip():
                label = f"    {header}: " if header else "    "
                lines.append(Text.assemble(label, value))
    return Group(*lines)


def _as_text(cell: RenderableType) -> Text:
    if isinstance(cell, Text):
        return cell
    return Text(str(cell))
