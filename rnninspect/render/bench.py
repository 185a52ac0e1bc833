"""``rnninspect bench``: every side's timing, the ratios, FLOPs and memory, and a sweep's table,
bars and fitted growth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.model.memory import format_bytes
from rnninspect.render.common import (
    duration_text,
    heading,
    markdown_table,
    stability_line,
    titled_table,
)
from rnninspect.reports.bench import BenchReport

if TYPE_CHECKING:
    from rnninspect.core.timing import RatioRounds


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
                ("-" if timing.iqr_ms is None else f"{timing.iqr_ms:.2g}")
                + (" unstable" if timing.unstable else ""),
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
    stability = stability_line(
        report.unstable, len(report.timing) + len(report.without_cudnn), report.machine
    )
    if stability:
        lines.append(stability)
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
            duration_text(m),
            duration_text(r),
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
                duration_text(point.report.timing[name].median_ms),
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
        Text(heading(report), style="bold"),
        Text(_bench_device(report)),
    ]
    if report.sweep:
        table = titled_table(f"Sweep of {report.sweep_name} (forward)")
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
            impls = titled_table(
                "Implementations over the sweep (forward; ratio: median and range over the rounds)"
            )
            for header in _sweep_impl_header(report):
                impls.add_column(header, justify="right", no_wrap=True)
            for impl_row in _sweep_impl_rows(report):
                impls.add_row(*impl_row)
            parts += [Text(""), impls]
        parts.append(Text(f"Timings below are of the first point, {first}.", style="dim"))
    table = titled_table("Timing")
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
    out = [f"**`{report.spec.to_spec_string()}`** · {heading(report).split(' · ', 1)[1]}\n\n"]
    out.append(f"{_bench_device(report)}\n\n")
    if report.sweep:
        plot = ["module plot", "reference plot"]
        sweep_header = [str(report.sweep_name), "module", "reference", "ratio", *plot]
        out.append(f"#### Sweep of {report.sweep_name} (forward)\n\n")
        out.append(markdown_table(sweep_header, _sweep_rows(report)))
        out.append(
            f"\n{_growth_line(report)} Bars scale per column. Timings below are of the first "
            "point.\n\n"
        )
        if report.impl_ratios:
            out.append("#### Implementations over the sweep (forward)\n\n")
            out.append(markdown_table(_sweep_impl_header(report), _sweep_impl_rows(report)))
            out.append("\n")
    header = ("side", "pass", "median ms", "IQR ms", "runs", "tokens/s", "GFLOP/s")
    out.append("#### Timing\n\n" + markdown_table(header, _bench_rows(report)) + "\n")
    out += [f"- {line}\n" for line in _bench_lines(report)]
    return "".join(out)
