"""``rnninspect keras``: the Keras code, the weight mapping, and with --check the parity rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.model.spec import RNNSpec
from rnninspect.render.common import (
    VERDICT_STYLE,
    error_text,
    markdown_table,
    shape_text,
    short_parity_markdown,
    titled_table,
)
from rnninspect.reports.keras import KerasReport

if TYPE_CHECKING:
    from rnninspect.reports.keras import WeightMap

KERAS_HEADER = ("Keras weight", "shape", "from torch", "shape ", "how")


def keras_rows(spec: RNNSpec, mapping: list[WeightMap]) -> list[tuple[str, ...]]:
    """One row per Keras weight, under a heading row per layer and direction (as the
    parameter table of ``shapes`` groups them), which keeps the table within 80 columns."""
    rows: list[tuple[str, ...]] = []
    heading = None
    for row in mapping:
        where = f"layer {row.layer}" + (f" {row.direction}" if spec.bidirectional else "")
        if not spec.cell.is_cell and where != heading:
            rows.append((where, "", "", "", ""))
            heading = where
        rows.append(
            (
                row.keras,
                shape_text(row.keras_shape) if row.keras_shape else "-",
                " + ".join(row.torch),
                shape_text(row.torch_shape),
                row.how,
            )
        )
    return rows


def _keras_verdict(report: KerasReport) -> str:
    if report.limits:
        ran = "; --check ran nothing" if report.check_not_run else ""
        return "NO KERAS EQUIVALENT: " + report.limits[0] + ran + "."
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
    table = titled_table("Weights, in the order set_weights takes them")
    for header in KERAS_HEADER:
        table.add_column(header.strip(), no_wrap=header in ("shape", "shape "))
    for mapped in keras_rows(report.spec, report.mapping):
        table.add_row(*mapped)
    parts += [Text(""), table]
    parts += [Text(line) for line in report.notes]
    if report.rows is not None:
        parity = titled_table("Keras against the float64 reference")
        for header in ("tensor", "max abs error", "verdict"):
            parity.add_column(header, justify="right" if header == "max abs error" else "left")
        for checked in report.rows:
            parity.add_row(
                checked.tensor,
                error_text(checked.comparison.max_abs_err),
                Text(checked.verdict, style=VERDICT_STYLE[checked.verdict]),
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
        markdown_table([h.strip() for h in KERAS_HEADER], keras_rows(report.spec, report.mapping))
    )
    out += [f"\n{line}\n" for line in report.notes]
    if report.rows is not None:
        out.append("\n" + short_parity_markdown(report.rows))
    out.append(f"\n**{_keras_verdict(report)}**\n")
    return "".join(out)
