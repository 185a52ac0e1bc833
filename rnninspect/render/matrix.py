"""``rnninspect matrix``: one row per case and the counts, and the JUnit XML for CI servers."""

from __future__ import annotations

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
from rnninspect.reports.matrix import MatrixReport


def _matrix_rows(report: MatrixReport) -> list[tuple[str, str, str, str]]:
    """name, worst error, seconds, verdict for every case, skipped ones last."""
    rows = [
        (result.case.name, error_text(result.worst_error), f"{result.seconds:.2f}", result.verdict)
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
    cases = f"{total} case" + ("s" if total != 1 else "")
    return f"{text}; {cases} in {report.seconds:.1f} s on {report.device} in {report.dtype}."


def _matrix_failures(report: MatrixReport) -> list[str]:
    lines = []
    for result in report.results:
        if not result.passed(report.allow_inconclusive):
            lines += [f"{result.case.name}: {line}" for line in result.failing_rows()]
    return lines


def matrix_table(report: MatrixReport) -> RenderableType:
    """The ``table`` view of ``rnninspect matrix``."""
    table = titled_table(f"Matrix: {report.path}")
    table.add_column("case", style="cyan", overflow="fold")
    table.add_column("worst error", justify="right", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for name, worst, seconds, verdict in _matrix_rows(report):
        style = VERDICT_STYLE.get(verdict, "dim")
        table.add_row(name, worst, seconds, Text(verdict, style=style))
    parts: list[RenderableType] = [table]
    parts += [Text(line, style=VERDICT_STYLE["fail"]) for line in _matrix_failures(report)]
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
    out.append(markdown_table(("case", "worst error", "seconds", "verdict"), rows))
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
            name=xml_text(result.case.name),
            time=f"{result.seconds:.3f}",
        )
        if not result.passed(report.allow_inconclusive):
            rows = [xml_text(row) for row in result.failing_rows()]
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
            output.text = "\n".join(xml_text(row) for row in result.failing_rows())
    for skipped in report.skipped:
        case = ET.SubElement(
            suite, "testcase", classname="rnninspect.matrix", name=xml_text(skipped.name)
        )
        ET.SubElement(case, "skipped", message="not run: --fail-fast stopped after a failure")
    return junit_document(suite)


def junit_unfinished(path: str) -> str:
    """The JUnit file written before the first case runs: one failing testcase that says the
    run did not finish, replaced by the real report at the end. A run that dies on the way
    (an --impl calling os._exit, a killed job) so leaves a failing report, never a green one."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite", name="rnninspect matrix", tests="1", failures="1", errors="0", skipped="0"
    )
    case = ET.SubElement(suite, "testcase", classname="rnninspect.matrix", name="matrix run")
    message = f"rnninspect matrix {xml_text(path)} did not finish: no case has a result"
    ET.SubElement(case, "failure", message=message, type="unfinished")
    return junit_document(suite)
