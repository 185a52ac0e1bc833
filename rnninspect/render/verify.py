"""``rnninspect verify``: the parity rows, what failed and why, the step-wise check, the
runtimes, the timing line.
"""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.model.shapes import element_meaning
from rnninspect.render.common import (
    VERDICT_STYLE,
    duration_text,
    error_text,
    heading,
    markdown_table,
    stability_line,
    titled_table,
)
from rnninspect.reports.verify import VerifyReport


def _verify_heading(report: VerifyReport) -> str:
    reference = "float64" if report.reference_dtype == "float64" else f"{report.dtype}"
    under_test = f"--impl {report.impl}" if report.impl else "torch's module"
    return (
        f"{heading(report)}\n{under_test} on {report.device['device']} in {report.dtype}, "
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
        found = f"; {row.finding}" if row.finding else ""
        lines.append(f"{row.tensor} fails{where or ':'} {row.reason}{found}")
    by_reason: dict[str, list[str]] = {}
    for row in inconclusive:
        by_reason.setdefault(row.reason, []).append(row.tensor)
    for reason, names in by_reason.items():
        lines.append(f"Inconclusive ({', '.join(names)}): {reason}")
    return lines


def _steps_line(report: VerifyReport) -> str | None:
    """The worst single steps; how noisy they are only where that explains a verdict."""
    steps = report.steps
    if steps is None:
        return None
    beyond = (
        f"the float64 reference's values there lie beyond {report.dtype}'s largest, so no "
        f"kernel in {report.dtype} can take them"
    )
    if steps.steps == 0:
        if report.spec.cell.is_cell:
            return f"The Cell's one step could not be checked: {beyond}."
        return f"None of the {steps.out_of_range} single steps could be checked: {beyond}."
    if report.spec.cell.is_cell:
        line = (
            "The Cell's one step, with the reference on the relu branches the implementation "
            f"took: forward {_excess(steps.forward.excess)} ({steps.forward.where}), backward "
            f"{_excess(steps.backward.excess)} ({steps.backward.where})"
        )
    else:
        line = (
            f"Step-wise parity over {steps.steps} steps: worst forward step "
            f"{_excess(steps.forward.excess)} ({steps.forward.where}), worst backward step "
            f"{_excess(steps.backward.excess)} ({steps.backward.where})"
        )
    if steps.out_of_range:
        line += f" ({steps.out_of_range} more steps not checked: {beyond})"
    amplified = steps.amplified()
    if amplified:
        line += (
            f"; the {' and '.join(amplified)} steps beyond tolerance are within "
            f"{steps.allowance:g}× the error of the reference in {report.dtype} on the same "
            "step: rounding amplified within the step"
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

    def timed(name: str, side: str) -> str:
        once = " (1 cold call)" if t[name].cold else " (1 call)" if t[name].runs == 1 else ""
        once += " (unstable)" if t[name].unstable and not t[name].cold else ""
        return f"{side} {duration_text(t[name].median_ms)}{once}"

    forward = ", ".join(timed(side, side) for side in sides)
    backward = ", ".join(timed(f"{side}_backward", side) for side in sides)
    ratio = t["reference"].median_ms / t["module"].median_ms
    how = (
        "quick, in about the time the parity work took: medians of short blocks, one warm "
        "call where a call takes longer than its share"
        if report.timing_mode == "quick"
        else "full: medians, torch.utils.benchmark"
    )
    line = (
        f"Timing ({how}): forward {forward} (reference/module {ratio:.2g}×); "
        f"forward+backward {backward}."
    )
    if report.timing_mode == "quick":
        line += " rnninspect bench times carefully."
    unstable = [name for name, timing in t.items() if timing.unstable]
    stability = stability_line(unstable, len(t), report.machine)
    return line if stability is None else f"{line} {stability}"


def _summary(report: VerifyReport) -> str:
    counts = {v: sum(row.verdict == v for row in report.rows) for v in VERDICT_STYLE}
    total = len(report.rows)
    runs = len(report.runtimes)
    failing = sum(result.verdict == "fail" for result in report.runtimes)
    on_runtimes = f"; {runs - failing} of {runs} runtime runs pass" if runs else ""
    eager = sorted({r.runtime for r in report.runtimes if r.label != r.runtime})
    if eager:
        on_runtimes += f" ({', '.join(eager)}: ran eagerly, nothing compiled)"
    if report.verdict == "pass":
        return f"PASS: all {total} rows within tolerance{on_runtimes}."
    parts = [f"{counts[v]} {v}" for v in ("fail", "inconclusive") if counts[v]]
    rows = f"{', '.join(parts)} of {total} rows" if parts else f"all {total} eager rows pass"
    return f"{report.verdict.upper()}: {rows}{on_runtimes}."


def verify_table(report: VerifyReport) -> RenderableType:
    """The ``table`` view of ``rnninspect verify``."""
    parts: list[RenderableType] = [Text(_verify_heading(report), style="bold"), Text("")]
    table = titled_table("Parity")
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
            error_text(c.max_abs_err),
            error_text(c.max_rel_err),
            error_text(row.noise_floor),
        ]
        if report.impl:
            cells.append(error_text(None if row.baseline is None else row.baseline.max_abs_err))
        label = "exploded" if c.exploded else row.verdict
        cells.append(Text(label, style=VERDICT_STYLE[row.verdict]))
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
        parts += [Text(line, style=VERDICT_STYLE["fail"]) for line in failures]
    parts += [Text(""), Text(_summary(report), style=VERDICT_STYLE[report.verdict])]
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
                result.label,
                "-" if result.seq_len is None else str(result.seq_len),
                "-" if result.batch is None else str(result.batch),
                compared,
                error_text(worst),
                result.verdict,
            )
        )
    return rows


_RUNTIME_HEADER = ("runtime", "L", "N", "rows", "worst error", "verdict")


def _runtimes_table(report: VerifyReport) -> RenderableType:
    table = titled_table("Runtimes, each against the float64 reference")
    for header in _RUNTIME_HEADER:
        right = header in ("L", "N", "worst error")
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in _runtime_rows(report):
        table.add_row(*row[:-1], Text(row[-1], style=VERDICT_STYLE[row[-1]]))
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
                    f"{where}: {row.tensor} fails, error {error_text(c.max_abs_err)}; "
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
        cells = [
            f"`{row.tensor}`",
            error_text(c.max_abs_err),
            error_text(c.max_rel_err),
            error_text(row.noise_floor),
        ]
        if report.impl:
            cells.append(error_text(None if row.baseline is None else row.baseline.max_abs_err))
        cells.append("exploded" if c.exploded else f"**{row.verdict}**" if not row.ok else "pass")
        rows.append(cells)
    out.append(markdown_table(header, rows))
    if report.runtimes:
        out.append("\n" + markdown_table(_RUNTIME_HEADER, _runtime_rows(report)))
    extra = [*_verify_context(report), _steps_line(report), _timing_line(report)]
    out.append("\n" + "".join(f"- {line}\n" for line in extra if line))
    failures = _failures(report) + _runtime_failures(report)
    if failures:
        out.append("\n" + "".join(f"- {line}\n" for line in failures))
    out.append(f"\n**{_summary(report)}**\n")
    return "".join(out)
