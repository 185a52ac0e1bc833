"""``rnninspect convert``: each module's mapping and parity, and whether the file was written."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import error_text, markdown_table, short_parity_markdown, titled_table
from rnninspect.render.keras import KERAS_HEADER, keras_rows
from rnninspect.reports.convert import ConvertedModule, ConvertReport


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
        table = titled_table(_module_title(module))
        for header in KERAS_HEADER:
            table.add_column(header.strip(), no_wrap=header in ("shape", "shape "))
        for mapped in keras_rows(module.spec, module.mapping):
            table.add_row(*mapped)
        verdicts = ", ".join(
            f"{row.tensor} {error_text(row.comparison.max_abs_err)} {row.verdict}"
            for row in module.rows
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
        rows = keras_rows(module.spec, module.mapping)
        out.append(markdown_table([h.strip() for h in KERAS_HEADER], rows))
        out.append("\n" + short_parity_markdown(module.rows))
    out.append(f"\n**{_convert_verdict(report)}**\n")
    return "".join(out)
