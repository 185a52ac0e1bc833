"""``rnninspect convert``: each module's mapping and parity, and whether the file was written."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import error_text, markdown_table, short_parity_markdown, titled_table
from rnninspect.render.keras import KERAS_HEADER, keras_rows
from rnninspect.reports.convert import ConvertedModule, ConvertReport


def _convert_verdict(report: ConvertReport) -> str:
    count = f"{len(report.modules)} module{'s' if len(report.modules) != 1 else ''}"
    if report.not_converted:
        left = len(report.not_converted)
        kind = "tensor" if report.to == "keras" else "layer"
        count += f" ({left} {kind}{'s' if left != 1 else ''} not converted, listed above)"
    if report.verdict == "pass":
        checked = (
            "read back from it, every one computes the same in torch and Keras"
            if report.to == "keras"
            else "the Keras model's own layers and torch's modules read back from it compute "
            "the same"
        )
        return f"PASS: {count} converted to {report.to} and written to {report.output}; {checked}."
    if report.verdict == "unchecked":
        assumed = [m.prefix or "(bare module)" for m in report.modules if m.verdict == "unchecked"]
        return (
            f"UNCHECKED: {count} converted and written to {report.output}, but "
            f"{', '.join(assumed)} rest on assumed Keras settings (listed above): the layers "
            "run were rebuilt with them, so nothing says the model computes this. Give the "
            "architecture (--architecture) to check the real layers."
        )
    failing = [m.prefix or "(bare module)" for m in report.modules if m.verdict == "fail"]
    return (
        f"FAIL: {', '.join(failing)} differ between torch and Keras; {report.output} not written."
    )


def _module_title(module: ConvertedModule) -> str:
    name = module.prefix or "(bare module)"
    return f"{name}: {module.spec.to_spec_string()} <-> Keras {', '.join(module.keras_layers)}"


def _module_lines(module: ConvertedModule) -> list[str]:
    """The torch code the module needs after it, and the settings it assumed."""
    lines = [f"torch code to add after the module: {line}" for line in module.code]
    if module.assumed:
        lines.append("assumed, not read: " + "; ".join(module.assumed))
    return lines


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
        parts += [Text(""), table, Text(f"Keras against torch ({module.verdict}): {verdicts}")]
        parts += [Text(line) for line in _module_lines(module)]
    if report.not_converted:
        parts += [Text(""), Text(f"Not converted ({len(report.not_converted)}):", style="bold")]
        parts += [Text(f"  {line}") for line in report.not_converted]
    style = {"pass": "green", "unchecked": "yellow"}.get(report.verdict, "bold red")
    parts += [Text(""), Text(_convert_verdict(report), style=style)]
    return Group(*parts)


def convert_markdown(report: ConvertReport) -> str:
    """The ``markdown`` view of ``rnninspect convert``."""
    out = [f"**`{report.source}` -> `{report.output}`** (`--to {report.to}`)\n"]
    for module in report.modules:
        out.append(f"\n**{_module_title(module)}** ({module.verdict})\n\n")
        rows = keras_rows(module.spec, module.mapping)
        out.append(markdown_table([h.strip() for h in KERAS_HEADER], rows))
        out.append("\n" + short_parity_markdown(module.rows))
        out += [f"\n{line}\n" for line in _module_lines(module)]
    if report.not_converted:
        out.append(f"\nNot converted ({len(report.not_converted)}):\n\n")
        out += [f"- {line}\n" for line in report.not_converted]
    out.append(f"\n**{_convert_verdict(report)}**\n")
    return "".join(out)
