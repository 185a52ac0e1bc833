"""``rnninspect conformance``: one table per runtime (case, verdict, worst error), what did not
pass in a line each (the same refusal said once for all the cases it stopped), the counts, and
the JUnit XML for CI servers."""

from __future__ import annotations

import re

from rich.console import Group, RenderableType
from rich.text import Text

from rnninspect.render.common import (
    VERDICT_STYLE,
    error_text,
    junit_document,
    markdown_table,
    titled_table,
    xml_text,
)
from rnninspect.reports.conformance import UNSUPPORTED, ConformanceReport, RuntimeResult

_STYLES = {**VERDICT_STYLE, UNSUPPORTED: "yellow"}


def _title(run: RuntimeResult) -> str:
    return f"Conformance: {run.version or run.runtime}"


def _summary(run: RuntimeResult) -> str:
    counts = run.counts
    parts = [f"{counts[v]} {v}" for v in ("pass", "fail", "inconclusive", UNSUPPORTED)]
    rate = len(run.cases) / run.seconds if run.seconds > 0 else 0.0
    return f"{', '.join(parts)}; {len(run.cases)} cases in {run.seconds:.1f} s ({rate:.0f}/s)."


def _shape(message: str) -> str:
    """A message with what varies from case to case (node numbers, names, sizes) taken out, so
    that one refusal of many cases is said once."""
    return re.sub(r"#\d+ \"[^\"]*\"|\d+", "#", message)


def _findings(run: RuntimeResult) -> list[tuple[str, str]]:
    """(verdict, line) for what did not pass: each failure on its own, each kind of refusal
    once with the cases it stopped."""
    lines: list[tuple[str, str]] = []
    refused: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for case in run.cases:
        if case.verdict == "pass":
            continue
        if case.verdict == UNSUPPORTED:
            key = _shape(case.message())
            refused.setdefault(key, []).append(case.name)
            first.setdefault(key, case.message())
            continue
        lines.append((case.verdict, f"{case.name}: {case.message()}"))
    for key, names in refused.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append((UNSUPPORTED, f"{shown}: {first[key]}"))
    return lines


def _footer(report: ConformanceReport) -> list[str]:
    lines = list(report.notes)
    if report.export is not None:
        export = report.export
        lines.append(
            f"Exported {export.cases} cases ({export.data_sets} test data sets) to "
            f"{export.folder} in ONNX's backend-test layout."
        )
    verdict = "pass" if report.ok else report.verdict
    if report.runtimes:
        how = " (unsupported counted as fail: --strict)" if report.strict else ""
        lines.append(f"Verdict: {verdict}{how}.")
    return lines


def conformance_table(report: ConformanceReport) -> RenderableType:
    """The ``table`` view."""
    parts: list[RenderableType] = []
    for run in report.runtimes:
        table = titled_table(_title(run))
        table.add_column("case", style="cyan", overflow="fold")
        table.add_column("verdict", no_wrap=True)
        table.add_column("worst error", justify="right", no_wrap=True)
        for case in run.cases:
            style = _STYLES.get(case.verdict, "dim")
            table.add_row(case.name, Text(case.verdict, style=style), error_text(case.worst_error))
        parts.append(table)
        if run.note:
            parts.append(Text(run.note, style="dim"))
        for verdict, line in _findings(run):
            parts.append(Text(f"{verdict}  {line}", style=_STYLES.get(verdict, "dim")))
        parts.append(Text(_summary(run), style="green" if run.verdict == "pass" else "bold red"))
    parts += [Text(line) for line in _footer(report)]
    return Group(*parts)


def conformance_markdown(report: ConformanceReport) -> str:
    """The ``markdown`` view."""
    out: list[str] = []
    for run in report.runtimes:
        rows = [
            (f"`{case.name}`", case.verdict, error_text(case.worst_error)) for case in run.cases
        ]
        out.append(f"#### {_title(run)}\n\n")
        out.append(markdown_table(("case", "verdict", "worst error"), rows))
        findings = _findings(run)
        if findings:
            out.append("\n" + "".join(f"- **{v}** {line}\n" for v, line in findings))
        out.append(f"\n**{_summary(run)}**\n\n")
    out += [f"{line}\n" for line in _footer(report)]
    return "".join(out)


def junit_xml(report: ConformanceReport) -> str:
    """One testsuite per runtime, one testcase per case: a failure for ``fail``, skipped with
    the runtime's refusal for ``unsupported`` (a failure with ``--strict``)."""
    from xml.etree import ElementTree as ET

    suites = []
    for run in report.runtimes:
        failed = sum(
            c.verdict == "fail" or (report.strict and c.verdict == UNSUPPORTED) for c in run.cases
        )
        skipped = 0 if report.strict else run.counts[UNSUPPORTED]
        suite = ET.Element(
            "testsuite",
            name=f"rnninspect conformance {run.runtime}",
            tests=str(len(run.cases)),
            failures=str(failed),
            errors="0",
            skipped=str(skipped),
            time=f"{run.seconds:.3f}",
        )
        for case in run.cases:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=f"rnninspect.conformance.{run.runtime}",
                name=xml_text(case.name),
            )
            message = xml_text(case.message())
            if case.verdict == "fail" or (report.strict and case.verdict == UNSUPPORTED):
                failure = ET.SubElement(
                    element, "failure", message=f"{case.verdict}: {message}", type=case.verdict
                )
                failure.text = xml_text(case.attributes)
            elif case.verdict == UNSUPPORTED:
                ET.SubElement(element, "skipped", message=f"unsupported: {message}")
            elif case.verdict == "inconclusive":
                properties = ET.SubElement(element, "properties")
                ET.SubElement(properties, "property", name="verdict", value="inconclusive")
        suites.append(suite)
    return junit_document(*suites)
