"""Reports as a person or a script reads them: rich tables, JSON, GitHub markdown.

Rendering never computes anything new: each view is made from the same report object. One
module per command holds its table and markdown views (``matrix`` also its JUnit XML);
``common`` what several share; ``console`` how a view reaches the stream. :func:`emit` is the
one way out: adding a command adds its module and one line to :data:`_VIEWS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console, RenderableType

from rnninspect.render import (
    bench,
    conformance,
    convert,
    diagnose,
    explain,
    infer,
    keras,
    matrix,
    onnx_convert,
    onnx_file,
    shapes,
    vectors,
    verify,
)
from rnninspect.render.console import print_fitted, write_text
from rnninspect.reports.bench import BenchReport
from rnninspect.reports.conformance import ConformanceReport
from rnninspect.reports.convert import ConvertReport
from rnninspect.reports.diagnose import DiagnoseReport
from rnninspect.reports.explain import ExplainReport
from rnninspect.reports.infer import InferReport
from rnninspect.reports.keras import KerasReport
from rnninspect.reports.matrix import MatrixReport
from rnninspect.reports.onnx_convert import OnnxConvertReport
from rnninspect.reports.onnx_file import OnnxFileReport
from rnninspect.reports.shapes import ShapesReport
from rnninspect.reports.vectors import VectorsCheckReport, VectorsReport, VectorsVerifyReport
from rnninspect.reports.verify import VerifyReport

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
    | ConformanceReport
    | OnnxFileReport
    | OnnxConvertReport
    | VectorsReport
    | VectorsCheckReport
    | VectorsVerifyReport
)

#: Each report's table view (given the terminal's width) and markdown view.
_VIEWS: dict[type, tuple[Callable[[Any, int], RenderableType], Callable[[Any], str]]] = {
    ShapesReport: (lambda report, width: shapes.shapes_table(report), shapes.shapes_markdown),
    VerifyReport: (lambda report, width: verify.verify_table(report), verify.verify_markdown),
    BenchReport: (lambda report, width: bench.bench_table(report), bench.bench_markdown),
    MatrixReport: (lambda report, width: matrix.matrix_table(report), matrix.matrix_markdown),
    InferReport: (lambda report, width: infer.infer_table(report), infer.infer_markdown),
    ExplainReport: (explain.explain_table, explain.explain_markdown),
    DiagnoseReport: (
        lambda report, width: diagnose.diagnose_table(report),
        diagnose.diagnose_markdown,
    ),
    KerasReport: (lambda report, width: keras.keras_table(report), keras.keras_markdown),
    ConvertReport: (lambda report, width: convert.convert_table(report), convert.convert_markdown),
    ConformanceReport: (
        lambda report, width: conformance.conformance_table(report),
        conformance.conformance_markdown,
    ),
    OnnxFileReport: (
        lambda report, width: onnx_file.onnx_file_table(report),
        onnx_file.onnx_file_markdown,
    ),
    OnnxConvertReport: (
        lambda report, width: onnx_convert.onnx_convert_table(report),
        onnx_convert.onnx_convert_markdown,
    ),
    VectorsReport: (lambda report, width: vectors.vectors_table(report), vectors.vectors_markdown),
    VectorsCheckReport: (lambda report, width: vectors.check_table(report), vectors.check_markdown),
    VectorsVerifyReport: (
        lambda report, width: vectors.verify_vectors_table(report),
        vectors.verify_vectors_markdown,
    ),
}


def emit(report: Report, fmt: str, file: IO[str] | None = None, width: int | None = None) -> None:
    """Write a report to ``file`` (stdout by default) as ``table``, ``json`` or ``markdown``."""
    console = Console(file=file, width=width, highlight=False, soft_wrap=False)
    if fmt == "json":
        write_text(console, to_json(report) + "\n")
    else:
        table, markdown = _VIEWS[type(report)]
        if fmt == "markdown":
            write_text(console, markdown(report))
        else:
            print_fitted(console, table(report, console.width))


def to_json(report: Report) -> str:
    return dumps(report.to_dict())


def dumps(document: dict[str, Any]) -> str:
    """One JSON document as every command prints it."""
    return json.dumps(document, indent=2)
