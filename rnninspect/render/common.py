"""What more than one command's views use: shapes and dimensions as text, the heading of a
configuration, markdown tables, errors and verdicts, and whether timings can be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from rnninspect.base.text import printable
from rnninspect.model.shapes import TensorShape
from rnninspect.reports.bench import BenchReport
from rnninspect.reports.shapes import Measured, ShapesReport
from rnninspect.reports.verify import VerifyReport

if TYPE_CHECKING:
    from rnninspect.core.load import MachineLoad
    from rnninspect.core.parity import ParityRow


def shape_text(shape: Sequence[int] | None) -> str:
    return "absent" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def dims_text(row: Measured) -> str:
    if not isinstance(row.predicted, TensorShape):
        return ""
    return " · ".join(f"{dim.symbol}={dim.size}" for dim in row.predicted.dims)


def heading(report: ShapesReport | VerifyReport | BenchReport) -> str:
    spec = report.spec
    if spec.cell.is_cell:
        example = "unbatched input" if spec.unbatched else f"batch {spec.batch}"
    elif spec.unbatched:
        example = f"unbatched input · seq_len {spec.seq_len}"
    elif spec.lengths is not None:
        lengths = ",".join(str(n) for n in spec.lengths)
        example = f"packed: lengths {lengths} · batch {spec.batch} · seq_len {spec.seq_len}"
    else:
        example = f"batch {spec.batch} · seq_len {spec.seq_len}"
    return f"{spec.to_spec_string()} · {example} · seed {spec.seed}"


def wrap_items(items: Sequence[str], width: int = 78) -> str:
    """Join items with `` · ``, breaking lines between items, never inside one."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            lines.append(item)
    return "\n".join(lines)


#: Markdown columns aligned right.
NUMERIC_COLUMNS = {
    "numel",
    "max abs err",
    "max rel err",
    "noise floor",
    "torch's err",
    "module",
    "reference",
    "ratio",
    "median ms",
    "IQR ms",
    "runs",
    "tokens/s",
    "GFLOP/s",
}


def duration_text(ms: float) -> str:
    """A duration in milliseconds, in seconds from one second up: ``42.7 ms``, ``1.01 s``."""
    return f"{ms:.3g} ms" if ms < 999.5 else f"{ms / 1e3:.3g} s"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    aligns = ["---:" if name in NUMERIC_COLUMNS else "---" for name in header]
    return "\n".join([line(header), line(aligns), *(line(row) for row in rows)]) + "\n"


def error_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan: nothing was measured
        return "n/a"
    return f"{value:.2e}" if value else "0"


VERDICT_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}


def short_parity_markdown(rows: list[ParityRow]) -> str:
    """Rows as keras and convert show them: the tensor, its largest error, its verdict."""
    shown = [
        (f"`{row.tensor}`", error_text(row.comparison.max_abs_err), row.verdict) for row in rows
    ]
    return markdown_table(("tensor", "max abs err", "verdict"), shown)


def titled_table(title: str) -> Table:
    """A table as every view draws one: its title on the left, a rule under the header."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def stability_line(unstable: list[str], count: int, machine: MachineLoad | None) -> str | None:
    """Which timings are unstable and the likely cause, or, on a loaded machine, that it was."""
    cause = machine.cause() if machine is not None else None
    if not unstable:
        return None if cause is None else f"Timings may be slow: {cause}."
    which = ", ".join(unstable)
    head = (
        f"UNSTABLE: {len(unstable)} of {count} timings ({which}) spread over 10% of their "
        "median (IQR), or are one cold call"
    )
    if cause is not None:
        return f"{head}; {cause}."
    quiet = ""
    if machine is not None and machine.others_busy_cores is not None:
        quiet = (
            f" (other processes kept {machine.others_busy_cores:.1f} of {machine.cores} cores busy)"
        )
    return f"{head}; the machine looked quiet{quiet}: time for longer with --min-time."


def junit_document(*suites_in: Any) -> str:
    """Test suites as one JUnit XML document."""
    from xml.etree import ElementTree as ET

    suites = ET.Element("testsuites")
    suites.extend(suites_in)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


#: Characters XML 1.0 forbids, after printable() has escaped the control characters.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """A string XML 1.0 can hold: control characters escaped as text."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", printable(text))
