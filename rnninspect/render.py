"""Reports as a person or a script reads them: rich tables, JSON, GitHub markdown.

Rendering never computes anything new: each view is made from the same report object.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from rnninspect.memory import format_bytes
from rnninspect.output import write_stream
from rnninspect.report import (
    BenchReport,
    ConvertedModule,
    ConvertReport,
    DiagnoseReport,
    ExplainReport,
    InferReport,
    KerasReport,
    MatrixReport,
    Measured,
    ShapesReport,
    VerifyReport,
)
from rnninspect.shapes import ParameterShape, TensorShape, direction_label, element_meaning
from rnninspect.spec import RNNSpec
from rnninspect.text import encodable, printable

if TYPE_CHECKING:
    from rnninspect.keras import WeightMap
    from rnninspect.parity import ParityRow
    from rnninspect.timing import RatioRounds

FORMATS = ("table", "json", "markdown")


Report = (
    ShapesReport
    | VerifyReport
    | BenchReport
    | MatrixReport
    | InferReport
    | ExplainReport
    | DiagnoseReport
    | KerasReport
    | ConvertReport
)


def emit(report: Report, fmt: str, file: IO[str] | None = None, width: int | None = None) -> None:
    """Write a report to ``file`` (stdout by default) in one of :data:`FORMATS`."""
    console = Console(file=file, width=width, highlight=False, soft_wrap=False)
    if fmt == "json":
        _write(console, to_json(report) + "\n")
    else:
        table, markdown = _VIEWS[type(report)]
        if fmt == "markdown":
            _write(console, markdown(report))
        else:
            _print(console, table(report, console.width))


def _write(console: Console, text: str) -> None:
    """Markdown and JSON as the stream can take them: nothing unsafe from outside, our symbols
    in ASCII where the stream cannot encode them."""
    write_stream(console.file, encodable(printable(text), console.file))


def _print(console: Console, renderable: RenderableType) -> None:
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
    """A table too wide for ``width`` is stacked, one block per row, rather than squeezed until
    rich cuts its cells or drops a column."""
    if isinstance(renderable, Group):
        return Group(*(_fit(part, width) for part in renderable.renderables))
    if isinstance(renderable, Table) and _natural_width(renderable) > width:
        return _stacked(renderable)
    return renderable


def _natural_width(table: Table) -> int:
    """The width the table takes with no cell cut or wrapped."""
    wide = Console(width=100_000)
    return Measurement.get(wide, wide.options, table).maximum


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


def to_json(report: Report) -> str:
    return dumps(report.to_dict())


def dumps(document: dict[str, Any]) -> str:
    """One JSON document as every command prints it."""
    return json.dumps(document, indent=2)


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


def _heading(report: ShapesReport | VerifyReport | BenchReport) -> str:
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
    if report.computed_on == "meta":
        return (
            "Shapes from torch's own forward pass on the meta device: every shape computed, "
            "no number, nothing allocated."
        )
    return f"Shapes from torch's own forward pass on the {report.computed_on.upper()}."


# ---------------------------------------------------------------------------------------------
# Table view


def _tensor_parts(report: ShapesReport) -> list[RenderableType]:
    """The tensor table, the legend of its symbols, and what packing changes."""
    tensors = Table(title="Tensors", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    tensors.add_column("tensor", style="cyan", no_wrap=True)
    tensors.add_column("shape", no_wrap=True)
    tensors.add_column("dims")
    for row in report.tensors:
        tensors.add_row(row.name, _shape(row.shape), _dims(row))
    parts: list[RenderableType] = [tensors, Text(_legend(report), style="dim")]
    note = _packed_note(report.spec)
    if note:
        parts.append(Text(note))
    return parts


def shapes_table(report: ShapesReport) -> RenderableType:
    """The ``table`` view of ``rnninspect shapes``."""
    parts: list[RenderableType] = [Text(_heading(report), style="bold"), Text("")]
    parts += _tensor_parts(report)
    parts.append(Text(""))

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


# ---------------------------------------------------------------------------------------------
# Markdown view


#: Markdown columns aligned right.
_NUMERIC_COLUMNS = {
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


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    aligns = ["---:" if name in _NUMERIC_COLUMNS else "---" for name in header]
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
    note = _packed_note(report.spec)
    out.append(f"\n{legend}\n\n" + (f"{note}\n\n" if note else "") + "#### Parameters\n\n")
    rows: list[tuple[str, ...]] = []
    for label, group in _param_groups(report):
        rows += [(label, f"`{r.name}`", _shape(r.shape), f"{r.numel:,}", *_axes(r)) for r in group]
    rows.append(("**total**", "", "", f"**{report.total_params:,}**", "", ""))
    header = ("group", "parameter", "shape", "numel", "rows", "cols")
    out.append(_markdown_table(header, rows))
    out.append(f"\n{_memory_line(report)}\n\n{_source_line(report)}\n")
    if report.mismatches:
        out.append("\n**The shape model disagrees with torch (a bug in rnninspect):**\n\n")
        out += [f"- {line}\n" for line in report.mismatches]
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# verify


def _err(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan: nothing was measured
        return "n/a"
    return f"{value:.2e}" if value else "0"


_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}


def _verify_heading(report: VerifyReport) -> str:
    reference = "float64" if report.reference_dtype == "float64" else f"{report.dtype}"
    under_test = f"--impl {report.impl}" if report.impl else "torch's module"
    return (
        f"{_heading(report)}\n{under_test} on {report.device['device']} in {report.dtype}, "
        f"against the reference in {reference}"
    )


def _verify_context(report: VerifyReport) -> list[str]:
    """Lines that say under what conditions the numbers were measured."""
    lines = []
    tol = report.tolerance
    lines.append(f"Tolerance: atol {tol.atol:g}, rtol {tol.rtol:g} ({tol.source}).")
    state = "zero initial state" if report.zero_state else "random non-zero initial state"
    scale = "" if report.weight_scale == 1 else f", weights {report.weight_scale:g}× torch's init"
    lines.append(f"Inputs: seeded random input, {state}{scale}.")
    info = report.device
    if "name" in info:
        tf32 = "allowed" if report.tf32 else "off"
        lines.append(
            f"Device: {info['name']}, cuDNN {info.get('cudnn') or 'unavailable'}, TF32 {tf32}."
        )
    return lines + report.notes


def _failures(report: VerifyReport) -> list[str]:
    """Each failing row: its worst element (what it is: gate, unit, column), both values, the
    error against what the tolerance allows there; the inconclusive rows together."""
    lines = []
    inconclusive = [row for row in report.rows if row.verdict == "inconclusive"]
    for row in report.rows:
        if row.verdict != "fail":
            continue
        c = row.comparison
        where = ""
        if c.worst is not None:
            index = "[" + ", ".join(str(i) for i in c.worst) + "]"
            meaning = element_meaning(report.spec, row.tensor, c.worst)
            where = f" at {index}" + (f" ({meaning})" if meaning else "")
            if c.actual is not None and c.expected is not None:
                where += f": implementation {c.actual:.6g}, reference {c.expected:.6g}"
                if math.isfinite(c.excess) and c.excess > 0:
                    error = abs(c.actual - c.expected)
                    where += (
                        f", error {error:.2g} where {error / c.excess:.2g} is allowed (atol "
                        f"{row.tolerance.atol:g}, rtol {row.tolerance.rtol:g})"
                    )
            where += ";"
        lines.append(f"{row.tensor} fails{where or ':'} {row.reason}")
    if inconclusive:
        names = ", ".join(row.tensor for row in inconclusive)
        lines.append(f"Inconclusive ({names}): {inconclusive[0].reason}")
    return lines


def _steps_line(report: VerifyReport) -> str | None:
    """The worst single steps; how noisy they are only where that explains a verdict."""
    steps = report.steps
    if steps is None:
        return None
    line = (
        f"Step-wise parity over {steps.steps} steps: worst forward step "
        f"{_excess(steps.forward.excess)} ({steps.forward.where}), worst backward step "
        f"{_excess(steps.backward.excess)} ({steps.backward.where})"
    )
    if report.verdict == "inconclusive":
        ratio = max(steps.noise_ratio(gradient=False), steps.noise_ratio(gradient=True))
        line += (
            f"; the implementation's steps are up to {ratio:.2g}× as noisy as the reference's "
            f"in {report.dtype}"
        )
    elif not (steps.forward_ok and steps.backward_ok):
        line += "; a step beyond tolerance is a wrong computation, not rounding"
    return line + "."


def _excess(value: float) -> str:
    if value == float("inf"):
        return "missing or non-finite"
    return f"at {value:.2g}× tolerance"


def _timing_line(report: VerifyReport) -> str | None:
    t = report.timing
    if not t:
        return None
    sides = [side for side in ("module", "implementation", "reference") if side in t]
    forward = ", ".join(f"{side} {t[side].median_ms:.3g} ms" for side in sides)
    backward = ", ".join(f"{side} {t[side + '_backward'].median_ms:.3g} ms" for side in sides)
    ratio = t["reference"].median_ms / t["module"].median_ms
    return (
        f"Timing (median, torch.utils.benchmark): forward {forward} (reference/module "
        f"{ratio:.2g}×); forward+backward {backward}."
    )


def _summary(report: VerifyReport) -> str:
    counts = {v: sum(row.verdict == v for row in report.rows) for v in _VERDICT_STYLE}
    total = len(report.rows)
    runs = len(report.runtimes)
    failing = sum(result.verdict == "fail" for result in report.runtimes)
    on_runtimes = f"; {runs - failing} of {runs} runtime runs pass" if runs else ""
    if report.verdict == "pass":
        return f"PASS: all {total} rows within tolerance{on_runtimes}."
    parts = [f"{counts[v]} {v}" for v in ("fail", "inconclusive") if counts[v]]
    rows = f"{', '.join(parts)} of {total} rows" if parts else f"all {total} eager rows pass"
    return f"{report.verdict.upper()}: {rows}{on_runtimes}."


def verify_table(report: VerifyReport) -> RenderableType:
    """The ``table`` view of ``rnninspect verify``."""
    parts: list[RenderableType] = [Text(_verify_heading(report), style="bold"), Text("")]
    table = Table(title="Parity", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("tensor", style="cyan", overflow="fold")
    for header in ("max abs\nerror", "max rel\nerror", "noise\nfloor"):
        table.add_column(header, justify="right", no_wrap=True)
    if report.impl:
        table.add_column("torch's\nerror", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    in_gradients = False
    for row in report.rows:
        name = row.tensor
        if name.startswith("grad:"):
            if not in_gradients:
                table.add_row(Text("gradient of", style="bold"))
                in_gradients = True
            name = "  " + name.removeprefix("grad:")
        c = row.comparison
        cells: list[str | Text] = [
            name,
            _err(c.max_abs_err),
            _err(c.max_rel_err),
            _err(row.noise_floor),
        ]
        if report.impl:
            cells.append(_err(None if row.baseline is None else row.baseline.max_abs_err))
        label = "exploded" if c.exploded else row.verdict
        cells.append(Text(label, style=_VERDICT_STYLE[row.verdict]))
        table.add_row(*cells)
    parts.append(table)
    if report.runtimes:
        parts += [Text(""), _runtimes_table(report)]
    parts += [Text(line, style="dim") for line in _verify_context(report)]
    for line in (_steps_line(report), _timing_line(report)):
        if line:
            parts.append(Text(line, style="dim"))
    failures = _failures(report) + _runtime_failures(report)
    if failures:
        parts.append(Text(""))
        parts += [Text(line, style=_VERDICT_STYLE["fail"]) for line in failures]
    parts += [Text(""), Text(_summary(report), style=_VERDICT_STYLE[report.verdict])]
    return Group(*parts)


def _runtime_rows(report: VerifyReport) -> list[tuple[str, str, str, str, str, str]]:
    """runtime, L, N, rows compared, worst error, verdict for each runtime and shape."""
    rows = []
    for result in report.runtimes:
        errors = [r.comparison.max_abs_err for r in result.rows]
        worst = max(errors) if errors else None
        compared = (
            "-"
            if result.error
            else f"{len(result.rows)}" + ("" if result.gradients else " (forward)")
        )
        rows.append(
            (
                result.runtime,
                "-" if result.seq_len is None else str(result.seq_len),
                "-" if result.batch is None else str(result.batch),
                compared,
                _err(worst),
                result.verdict,
            )
        )
    return rows


_RUNTIME_HEADER = ("runtime", "L", "N", "rows", "worst error", "verdict")


def _runtimes_table(report: VerifyReport) -> RenderableType:
    table = Table(
        title="Runtimes, each against the float64 reference",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in _RUNTIME_HEADER:
        right = header in ("L", "N", "worst error")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in _runtime_rows(report):
        table.add_row(*row[:-1], Text(row[-1], style=_VERDICT_STYLE[row[-1]]))
    return table


def _runtime_failures(report: VerifyReport) -> list[str]:
    """What ran on each runtime, and why each failing runtime and shape failed."""
    lines = []
    seen: set[str] = set()
    for result in report.runtimes:
        if result.runtime not in seen and result.detail != result.runtime:
            seen.add(result.runtime)
            forward = "" if result.gradients else "; forward only: it has no gradients"
            lines.append(f"{result.runtime}: {result.detail}{forward}.")
        where = f"{result.runtime} at L={result.seq_len}, N={result.batch}"
        if result.error:
            lines.append(f"{where} fails: {result.error}")
        for row in result.rows:
            if row.verdict == "fail":
                c = row.comparison
                lines.append(
                    f"{where}: {row.tensor} fails, error {_err(c.max_abs_err)}; "
                    f"{row.reason or 'out of tolerance'}"
                )
    return lines


def verify_markdown(report: VerifyReport) -> str:
    """The ``markdown`` view of ``rnninspect verify``."""
    heading = _verify_heading(report).split("\n")
    out = [f"**`{report.spec.to_spec_string()}`** · {heading[0].split(' · ', 1)[1]}\n\n"]
    out.append(f"{heading[1]}\n\n")
    header = ["tensor", "max abs err", "max rel err", "noise floor"]
    header += ["torch's err"] if report.impl else []
    header.append("verdict")
    rows = []
    for row in report.rows:
        c = row.comparison
        cells = [f"`{row.tensor}`", _err(c.max_abs_err), _err(c.max_rel_err), _err(row.noise_floor)]
        if report.impl:
            cells.append(_err(None if row.baseline is None else row.baseline.max_abs_err))
        cells.append("exploded" if c.exploded else f"**{row.verdict}**" if not row.ok else "pass")
        rows.append(cells)
    out.append(_markdown_table(header, rows))
    if report.runtimes:
        out.append("\n" + _markdown_table(_RUNTIME_HEADER, _runtime_rows(report)))
    extra = [*_verify_context(report), _steps_line(report), _timing_line(report)]
    out.append("\n" + "".join(f"- {line}\n" for line in extra if line))
    failures = _failures(report) + _runtime_failures(report)
    if failures:
        out.append("\n" + "".join(f"- {line}\n" for line in failures))
    out.append(f"\n**{_summary(report)}**\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# bench


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


def _bench_device(report: BenchReport) -> str:
    info = report.device
    line = f"{info['device']}, {report.dtype}, {report.threads} CPU threads"
    if "name" in info:
        tf32 = "TF32 allowed" if report.tf32 else "TF32 off"
        line += f", {info['name']}, cuDNN {info.get('cudnn') or 'unavailable'}, {tf32}"
    return line


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _bench_rows(report: BenchReport) -> list[tuple[str, str, str, str, str, str, str]]:
    """side, pass, median, IQR, runs, tokens/s, GFLOP/s for every timing."""
    rows = []
    timings = [(name, t, "") for name, t in report.timing.items()]
    timings += [(name, t, " (cuDNN off)") for name, t in report.without_cudnn.items()]
    for name, timing, note in timings:
        forward = not name.endswith("_backward")
        side = name.removesuffix("_backward")
        seconds = timing.median_ms * 1e-3
        rows.append(
            (
                side + note,
                "fwd" if forward else "fwd+bwd",
                f"{timing.median_ms:.3g}",
                "-" if timing.iqr_ms is None else f"{timing.iqr_ms:.2g}",
                str(timing.runs),
                f"{report.tokens / seconds:,.0f}",
                _rate(report.flops.flops / seconds / 1e9) if forward else "",
            )
        )
    return rows


def _bench_lines(report: BenchReport) -> list[str]:
    f = report.flops
    lines = [
        f"Reference/module, forward: {report.ratio:.2f}×.",
        *(_impl_ratio_line(name, rounds) for name, rounds in report.impl_ratios.items()),
        f"FLOPs of one forward pass: {f.flops:,} ({f.macs:,} multiply-adds × 2 + "
        f"{f.elementwise:,} element-wise); GFLOP/s is for the forward pass only.",
    ]
    if report.peak_gflops is not None:
        shares = ", ".join(
            f"{side} {100 * report.gflops(side) / report.peak_gflops:.2g}%"
            for side in ("module", "reference")
        )
        lines.append(f"Of the stated peak {report.peak_gflops:g} GFLOP/s: {shares}.")
    memory = report.memory
    line = (
        f"Memory estimate ({report.dtype}): forward {format_bytes(memory.shapes)}, with backward "
        f"{format_bytes(memory.verify)}"
    )
    if report.peak_bytes:
        measured = ", ".join(
            f"{name} {format_bytes(value)}" for name, value in report.peak_bytes.items()
        )
        line += f"; measured peak of the module on CUDA: {measured}"
    lines.append(line + ".")
    if report.weights_source is not None:
        lines.append(f"Trained weights from {report.weights_source}.")
    lines.append(
        f"Every side runs in {report.dtype}; timed with torch.utils.benchmark; fwd+bwd is the "
        "forward pass and the backward of a random upstream gradient."
    )
    for name, detail in report.runtime_details.items():
        lines.append(f"{name}: {detail}.")
    for name, error in report.runtime_errors.items():
        lines.append(f"{name} could not be timed: {error}")

    return lines


def _impl_ratio_line(name: str, rounds: RatioRounds) -> str:
    side = name.removesuffix("_backward").removeprefix("impl:")
    what = "fwd+bwd" if name.endswith("_backward") else "forward"
    line = (
        f"{side}/module, {what}: {rounds.median:.2f}× (IQR {rounds.iqr:.2f}, {rounds.low:.2f}× "
        f"to {rounds.high:.2f}× over {rounds.rounds} alternating rounds)"
    )
    if rounds.unsettled:
        line += (
            "; the rounds disagree about which is faster, so the difference is within the "
            "machine's noise: rerun with a longer --min-time on a quieter machine"
        )
    return line + "."


_BAR_WIDTH = 14


def _bar(value: float, largest: float) -> str:
    cells = value / largest * _BAR_WIDTH if largest > 0 else 0
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")


def _sweep_rows(report: BenchReport) -> list[tuple[str, str, str, str, str, str]]:
    """One row per swept value; each side's bars are scaled to that side's slowest point, so
    that both curves show their shape however far apart the two sides are."""
    module = [p.report.timing["module"].median_ms for p in report.sweep]
    reference = [p.report.timing["reference"].median_ms for p in report.sweep]
    return [
        (
            str(point.value),
            _ms(m),
            _ms(r),
            f"{r / m:.2f}×",
            _bar(m, max(module)),
            _bar(r, max(reference)),
        )
        for point, m, r in zip(report.sweep, module, reference, strict=True)
    ]


def _sweep_impl_header(report: BenchReport) -> list[str]:
    names = [name for name in report.impl_ratios if not name.endswith("_backward")]
    header = [str(report.sweep_name)]
    for name in names:
        short = name.removeprefix("impl:")
        header += [short, f"{short}/module"]
    return header


def _sweep_impl_rows(report: BenchReport) -> list[tuple[str, ...]]:
    """Each implementation's time and its ratio to the module (median over alternating
    rounds, with their range) at every swept value."""
    names = [name for name in report.impl_ratios if not name.endswith("_backward")]
    rows = []
    for point in report.sweep:
        row = [str(point.value)]
        for name in names:
            rounds = point.report.impl_ratios[name]
            row += [
                _ms(point.report.timing[name].median_ms),
                f"{rounds.median:.2f}× ({rounds.low:.2f}–{rounds.high:.2f})",
            ]
        rows.append(tuple(row))
    return rows


def _growth_line(report: BenchReport) -> str:
    exponents = report.exponents()
    parts = ", ".join(f"{side} {k:.2f}" for side, k in exponents.items())
    return f"Fitted growth, time ∝ {report.sweep_name}^k: {parts}."


def bench_table(report: BenchReport) -> RenderableType:
    """The ``table`` view of ``rnninspect bench`` (and of a sweep)."""
    parts: list[RenderableType] = [
        Text(_heading(report), style="bold"),
        Text(_bench_device(report)),
    ]
    if report.sweep:
        table = Table(
            title=f"Sweep of {report.sweep_name} (forward)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        table.add_column(str(report.sweep_name), justify="right")
        for header in ("module", "reference", "ratio"):
            table.add_column(header, justify="right", no_wrap=True)
        table.add_column("module", style="cyan", no_wrap=True)
        table.add_column("reference", style="magenta", no_wrap=True)
        for point_row in _sweep_rows(report):
            table.add_row(*point_row)
        first = f"{report.sweep_name}={report.sweep[0].value}"
        parts += [Text(""), table, Text(_growth_line(report) + " Bars scale per column.")]
        if report.impl_ratios:
            impls = Table(
                title="Implementations over the sweep (forward; ratio: median and range over "
                "the rounds)",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            for header in _sweep_impl_header(report):
                impls.add_column(header, justify="right", no_wrap=True)
            for impl_row in _sweep_impl_rows(report):
                impls.add_row(*impl_row)
            parts += [Text(""), impls]
        parts.append(Text(f"Timings below are of the first point, {first}.", style="dim"))
    table = Table(title="Timing", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("side", "pass", "median ms", "IQR ms", "runs", "tokens/s", "GFLOP/s"):
        right = header not in ("side", "pass")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in _bench_rows(report):
        table.add_row(*row)
    parts += [Text(""), table]
    parts += [Text(line, style="dim") for line in _bench_lines(report)]
    return Group(*parts)


def bench_markdown(report: BenchReport) -> str:
    """The ``markdown`` view of ``rnninspect bench``."""
    out = [f"**`{report.spec.to_spec_string()}`** · {_heading(report).split(' · ', 1)[1]}\n\n"]
    out.append(f"{_bench_device(report)}\n\n")
    if report.sweep:
        plot = ["module plot", "reference plot"]
        sweep_header = [str(report.sweep_name), "module", "reference", "ratio", *plot]
        out.append(f"#### Sweep of {report.sweep_name} (forward)\n\n")
        out.append(_markdown_table(sweep_header, _sweep_rows(report)))
        out.append(
            f"\n{_growth_line(report)} Bars scale per column. Timings below are of the first "
            "point.\n\n"
        )
        if report.impl_ratios:
            out.append("#### Implementations over the sweep (forward)\n\n")
            out.append(_markdown_table(_sweep_impl_header(report), _sweep_impl_rows(report)))
            out.append("\n")
    header = ("side", "pass", "median ms", "IQR ms", "runs", "tokens/s", "GFLOP/s")
    out.append("#### Timing\n\n" + _markdown_table(header, _bench_rows(report)) + "\n")
    out += [f"- {line}\n" for line in _bench_lines(report)]
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# matrix


def _matrix_rows(report: MatrixReport) -> list[tuple[str, str, str, str]]:
    """name, worst error, seconds, verdict for every case, skipped ones last."""
    rows = [
        (result.case.name, _err(result.worst_error), f"{result.seconds:.2f}", result.verdict)
        for result in report.results
    ]
    rows += [(case.name, "-", "-", "skipped") for case in report.skipped]
    return rows


def _matrix_summary(report: MatrixReport) -> str:
    total = len(report.results) + len(report.skipped)
    text = f"{report.passed} passed, {report.failed} failed, {report.inconclusive} inconclusive"
    if report.inconclusive and report.allow_inconclusive:
        text += " (allowed by --allow-inconclusive)"
    if report.skipped:
        text += f", {len(report.skipped)} skipped after the first failure (--fail-fast)"
    return f"{text}; {total} cases in {report.seconds:.1f} s on {report.device} in {report.dtype}."


def _matrix_failures(report: MatrixReport) -> list[str]:
    lines = []
    for result in report.results:
        if not result.passed(report.allow_inconclusive):
            lines += [f"{result.case.name}: {line}" for line in result.failing_rows()]
    return lines


def matrix_table(report: MatrixReport) -> RenderableType:
    """The ``table`` view of ``rnninspect matrix``."""
    table = Table(
        title=f"Matrix: {report.path}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("case", style="cyan", overflow="fold")
    table.add_column("worst error", justify="right", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for name, worst, seconds, verdict in _matrix_rows(report):
        style = _VERDICT_STYLE.get(verdict, "dim")
        table.add_row(name, worst, seconds, Text(verdict, style=style))
    parts: list[RenderableType] = [table]
    parts += [Text(line, style=_VERDICT_STYLE["fail"]) for line in _matrix_failures(report)]
    style = "green" if report.ok else "bold red"
    parts.append(Text(_matrix_summary(report), style=style))
    return Group(*parts)


def matrix_markdown(report: MatrixReport) -> str:
    """The ``markdown`` view of ``rnninspect matrix``."""
    rows = [
        (f"`{name}`", worst, seconds, verdict)
        for name, worst, seconds, verdict in _matrix_rows(report)
    ]
    out = [f"#### Matrix: `{report.path}`\n\n"]
    out.append(_markdown_table(("case", "worst error", "seconds", "verdict"), rows))
    failures = _matrix_failures(report)
    if failures:
        out.append("\n" + "".join(f"- {line}\n" for line in failures))
    out.append(f"\n**{_matrix_summary(report)}**\n")
    return "".join(out)


def junit_xml(report: MatrixReport) -> str:
    """The report as JUnit XML: one testcase per case, a failure element with its failing rows,
    and a skipped element for the cases --fail-fast did not run."""
    from xml.etree import ElementTree as ET

    name = "rnninspect matrix" + (f" (shard {report.shard})" if report.shard else "")
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(report.results) + len(report.skipped)),
        failures=str(sum(not r.passed(report.allow_inconclusive) for r in report.results)),
        errors="0",
        skipped=str(len(report.skipped)),
        time=f"{report.seconds:.3f}",
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="rnninspect.matrix",
            name=_xml(result.case.name),
            time=f"{result.seconds:.3f}",
        )
        if not result.passed(report.allow_inconclusive):
            rows = [_xml(row) for row in result.failing_rows()]
            failure = ET.SubElement(
                case, "failure", message=f"{result.verdict}: {rows[0]}", type=result.verdict
            )
            failure.text = "\n".join(rows)
        elif result.verdict == "inconclusive":
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="verdict", value="inconclusive")
            ET.SubElement(
                properties,
                "property",
                name="allowed_by",
                value="--allow-inconclusive",
            )
            output = ET.SubElement(case, "system-out")
            output.text = "\n".join(_xml(row) for row in result.failing_rows())
    for skipped in report.skipped:
        case = ET.SubElement(
            suite, "testcase", classname="rnninspect.matrix", name=_xml(skipped.name)
        )
        ET.SubElement(case, "skipped", message="not run: --fail-fast stopped after a failure")
    return _junit_document(suite)


def junit_unfinished(path: str) -> str:
    """The JUnit file written before the first case runs: one failing testcase that says the
    run did not finish, replaced by the real report at the end. A run that dies on the way
    (an --impl calling os._exit, a killed job) so leaves a failing report, never a green one."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite", name="rnninspect matrix", tests="1", failures="1", errors="0", skipped="0"
    )
    case = ET.SubElement(suite, "testcase", classname="rnninspect.matrix", name="matrix run")
    message = f"rnninspect matrix {_xml(path)} did not finish: no case has a result"
    ET.SubElement(case, "failure", message=message, type="unfinished")
    return _junit_document(suite)


def _junit_document(suite: Any) -> str:
    from xml.etree import ElementTree as ET

    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


#: Characters XML 1.0 forbids, after printable() has escaped the control characters.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """A string XML 1.0 can hold: control characters escaped as text."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", printable(text))


# ---------------------------------------------------------------------------------------------
# infer


def _infer_blocks(report: InferReport) -> list[tuple[str, list[str], list[tuple[str, str, str]]]]:
    """Per module: a title, lines about it, and its parameter rows; every key made printable."""
    from rnninspect.infer import Inconsistent

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
            rows.append((printable(name), _shape(shape), f"{count:,}"))
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
            out.append("\n" + _markdown_table(("parameter", "shape", "numel"), rows))
    out += [f"\n{printable(note)}\n" for note in report.notes]
    out.append(f"\n**{_infer_summary(report)}**\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# explain


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
        rows.append((r.lhs, r.rhs, found, _err(r.max_abs_err)))
    return rows


def _pitfall_notes(report: ExplainReport) -> list[str]:
    return [f"{r.lhs} is not {r.rhs}: {r.note}" for r in report.relations if not r.expected]


def _diagram_lines(report: ExplainReport, width: int) -> list[Text]:
    """The unrolled network, with fewer steps drawn where the full one is wider than the
    terminal; its grid never wraps, its legend does."""
    from rnninspect.explain import diagram

    lines = report.diagram
    for steps in (6, 4, 2):
        if max(len(line) for line in _grid(lines)) <= width:
            break
        lines = diagram(report.spec, max_steps=steps)
    grid = set(_grid(lines))
    return [Text(line, no_wrap=line in grid, overflow="fold") for line in lines]


def _grid(lines: list[str]) -> list[str]:
    """The lines of the diagram that are drawing, not prose."""
    return [line for line in lines if line.startswith(("layer", " ", "x ──"))] or lines


def explain_table(report: ExplainReport, width: int = 80) -> RenderableType:
    """The ``table`` view of ``rnninspect explain``."""
    parts: list[RenderableType] = [Text(_heading(report.shapes), style="bold"), Text("")]
    before, after = _equation_notes(report)
    equations = Table(box=box.SIMPLE, pad_edge=False, show_header=False)
    equations.add_column("equation", style="cyan")
    equations.add_column("weights", style="dim")
    for equation, where in _equation_rows(report):
        equations.add_row(equation, where)
    parts += [Text("Equations", style="bold"), *[Text(line) for line in before], equations]
    parts += [*[Text(line) for line in after], Text("")]
    parts += _tensor_parts(report.shapes)
    parts += [Text(note) for note in report.notes]
    parts += [Text(""), Text("Unrolled", style="bold")]
    parts += _diagram_lines(report, width)
    if report.relations:
        relations = Table(
            title="Output and final state, checked on the real module",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
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
        f"**`{report.spec.to_spec_string()}`** · {_heading(report.shapes).split(' · ', 1)[1]}\n\n"
    ]
    before, after = _equation_notes(report)
    out.append("#### Equations\n\n" + "".join(f"{line}\n\n" for line in before))
    rows = [(f"`{e}`", w) for e, w in _equation_rows(report)]
    out.append(_markdown_table(("equation", "weights"), rows))
    out += [f"\n{line}\n" for line in after]
    out.append("\n#### Tensors\n\n")
    out.append(
        _markdown_table(
            ("tensor", "shape", "dims"),
            ((f"`{r.name}`", _shape(r.shape), _dims(r)) for r in report.shapes.tensors),
        )
    )
    out += [f"\n{note}\n" for note in report.notes]
    out.append("\n#### Unrolled\n\n```\n" + "\n".join(report.diagram) + "\n```\n")
    if report.relations:
        out.append("\n#### Output and final state, checked on the real module\n\n")
        out.append(_markdown_table(("lhs", "rhs", "found", "max abs err"), _relation_rows(report)))
        out += [f"\n- {line}" for line in _pitfall_notes(report)]
        out.append("\n")
    if report.h_n_rows:
        out.append(f"\n#### {_rows_title(report)}\n\n")
        out += [f"- `{line.split(':')[0]}`:{line.split(':', 1)[1]}\n" for line in report.h_n_rows]
        out.append(f"\n{_view_hint(report)}\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# diagnose


def _given(report: DiagnoseReport) -> str:
    parts = [f"{name} {_shape(shape)}" for name, shape in report.shapes.items() if shape]
    if report.spec.lengths is not None:
        parts.append("lengths " + ",".join(str(n) for n in report.spec.lengths))
    return "Given: " + ", ".join(parts)


def _torch_line(report: DiagnoseReport) -> str:
    if report.torch_note:
        return report.torch_note[0].upper() + report.torch_note[1:] + "."
    if not report.torch_ran and report.torch_error is None:
        return "torch was not run."
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
        out.append(_markdown_table(("tensor", "dim", "got", "expected", "meaning", "hint"), rows))
        out.append("\n")
    out.append(f"{_torch_line(report)}\n\n**{_diagnose_verdict(report)}**\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# keras


_KERAS_HEADER = ("layer", "Keras weight", "shape", "from torch", "shape ", "how")


def _keras_rows(spec: RNNSpec, mapping: list[WeightMap]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for row in mapping:
        where = f"{row.layer} {row.direction}" if spec.bidirectional else str(row.layer)
        rows.append(
            (
                where,
                row.keras,
                _shape(row.keras_shape) if row.keras_shape else "-",
                " + ".join(row.torch),
                _shape(row.torch_shape),
                row.how,
            )
        )
    return rows


def _keras_verdict(report: KerasReport) -> str:
    if report.limits:
        return "NO KERAS EQUIVALENT: " + report.limits[0] + "."
    if report.rows is None:
        return "Mapping only; --check runs both frameworks on these weights."
    failing = [row.tensor for row in report.rows if not row.ok]
    against = "the reference"
    if report.reset_after is False:
        against = "the reference's reset_after=False equations (no torch module computes them)"
    if failing:
        return f"FAIL: Keras {report.keras_version} differs from {against} in {', '.join(failing)}."
    return (
        f"PASS: Keras {report.keras_version} (torch backend) matches {against} in all "
        f"{len(report.rows)} rows."
    )


def keras_table(report: KerasReport) -> RenderableType:
    """The ``table`` view of ``rnninspect keras``."""
    parts: list[RenderableType] = [Text(report.spec.to_spec_string(), style="bold"), Text("")]
    parts.append(Text("Keras layers", style="bold"))
    parts += [Text(f"  {line}") for line in report.code]
    table = Table(
        title="Weights, in the order set_weights takes them",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in _KERAS_HEADER:
        table.add_column(header.strip(), no_wrap=header in ("shape", "shape "))
    for mapped in _keras_rows(report.spec, report.mapping):
        table.add_row(*mapped)
    parts += [Text(""), table]
    parts += [Text(line) for line in report.notes]
    if report.rows is not None:
        parity = Table(
            title="Keras against the float64 reference",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for header in ("tensor", "max abs error", "verdict"):
            parity.add_column(header, justify="right" if header == "max abs error" else "left")
        for checked in report.rows:
            parity.add_row(
                checked.tensor,
                _err(checked.comparison.max_abs_err),
                Text(checked.verdict, style=_VERDICT_STYLE[checked.verdict]),
            )
        parts += [Text(""), parity]
    style = "green" if report.ok else "bold red"
    parts += [Text(""), Text(_keras_verdict(report), style=style)]
    return Group(*parts)


def keras_markdown(report: KerasReport) -> str:
    """The ``markdown`` view of ``rnninspect keras``."""
    out = [f"**`{report.spec.to_spec_string()}`** in Keras\n\n```python\n"]
    out.append("\n".join(report.code) + "\n```\n\n")
    out.append(
        _markdown_table(
            [h.strip() for h in _KERAS_HEADER], _keras_rows(report.spec, report.mapping)
        )
    )
    out += [f"\n{line}\n" for line in report.notes]
    if report.rows is not None:
        out.append("\n" + _short_parity_markdown(report.rows))
    out.append(f"\n**{_keras_verdict(report)}**\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# convert


def _convert_verdict(report: ConvertReport) -> str:
    count = f"{len(report.modules)} module{'s' if len(report.modules) != 1 else ''}"
    if report.written:
        return (
            f"PASS: {count} converted to {report.to} and written to {report.output}; read back "
            "from it, every one computes the same in torch and Keras."
        )
    failing = [m.prefix or "(bare module)" for m in report.modules if not m.ok]
    return (
        f"FAIL: {', '.join(failing)} differ between torch and Keras; {report.output} not written."
    )


def _module_title(module: ConvertedModule) -> str:
    name = module.prefix or "(bare module)"
    return f"{name}: {module.spec.to_spec_string()} <-> Keras {', '.join(module.keras_layers)}"


def convert_table(report: ConvertReport) -> RenderableType:
    """The ``table`` view of ``rnninspect convert``."""
    parts: list[RenderableType] = [
        Text(f"{report.source} -> {report.output} (--to {report.to})", style="bold")
    ]
    for module in report.modules:
        table = Table(
            title=_module_title(module), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for header in _KERAS_HEADER:
            table.add_column(header.strip(), no_wrap=header in ("shape", "shape "))
        for mapped in _keras_rows(module.spec, module.mapping):
            table.add_row(*mapped)
        verdicts = ", ".join(
            f"{row.tensor} {_err(row.comparison.max_abs_err)} {row.verdict}" for row in module.rows
        )
        parts += [Text(""), table, Text(f"Keras against torch: {verdicts}")]
    style = "green" if report.ok else "bold red"
    parts += [Text(""), Text(_convert_verdict(report), style=style)]
    return Group(*parts)


def convert_markdown(report: ConvertReport) -> str:
    """The ``markdown`` view of ``rnninspect convert``."""
    out = [f"**`{report.source}` -> `{report.output}`** (`--to {report.to}`)\n"]
    for module in report.modules:
        out.append(f"\n**{_module_title(module)}**\n\n")
        rows = _keras_rows(module.spec, module.mapping)
        out.append(_markdown_table([h.strip() for h in _KERAS_HEADER], rows))
        out.append("\n" + _short_parity_markdown(module.rows))
    out.append(f"\n**{_convert_verdict(report)}**\n")
    return "".join(out)


def _short_parity_markdown(rows: list[ParityRow]) -> str:
    """Rows as keras and convert show them: the tensor, its largest error, its verdict."""
    shown = [(f"`{row.tensor}`", _err(row.comparison.max_abs_err), row.verdict) for row in rows]
    return _markdown_table(("tensor", "max abs err", "verdict"), shown)


#: Each report's table view (given the terminal's width) and markdown view.
_VIEWS: dict[type, tuple[Callable[[Any, int], RenderableType], Callable[[Any], str]]] = {
    ShapesReport: (lambda report, width: shapes_table(report), shapes_markdown),
    VerifyReport: (lambda report, width: verify_table(report), verify_markdown),
    BenchReport: (lambda report, width: bench_table(report), bench_markdown),
    MatrixReport: (lambda report, width: matrix_table(report), matrix_markdown),
    InferReport: (lambda report, width: infer_table(report), infer_markdown),
    ExplainReport: (explain_table, explain_markdown),
    DiagnoseReport: (lambda report, width: diagnose_table(report), diagnose_markdown),
    KerasReport: (lambda report, width: keras_table(report), keras_markdown),
    ConvertReport: (lambda report, width: convert_table(report), convert_markdown),
}
