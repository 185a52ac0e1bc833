"""``conformance --export DIR``: the cases in ONNX's backend-test layout, for runtimes that
already have a harness for it (tract, onnx2c, burn, candle, a team's own engine)::

    DIR/manifest.json                      what each case is, its shapes, the tolerance
    DIR/<case>/model.onnx                  the single-node model
    DIR/<case>/test_data_set_K/input_J.pb  the graph's inputs, in its order (TensorProto)
    DIR/<case>/test_data_set_K/output_J.pb the outputs the equations give (float64, then float32)

One data set per shape the suite runs at. The folder is written beside DIR under a temporary
name and renamed into place when every file is there, so DIR is never half-written; DIR must
not exist yet, or be empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rnninspect import __version__
from rnninspect.commands.conformance import numbers
from rnninspect.commands.conformance.running import describe_case, model_bytes
from rnninspect.files.onnx_model import tensor_bytes
from rnninspect.files.output import commit_folder, folder_target, staged_folder
from rnninspect.model.conformance import Case
from rnninspect.reports.conformance import ExportResult


def check_folder(folder: str | Path) -> Path:
    """DIR, checked before anything runs: a new folder in an existing one, or an empty one."""
    return folder_target(folder, "--export")


def export(
    cases: Sequence[Case],
    folder: str | Path,
    shapes: Sequence[tuple[int, int]],
    progress: Callable[[int, int, str], None] | None = None,
) -> ExportResult:
    """Write every case, its model and one data set per shape, then rename the whole into
    place."""
    target = check_folder(folder)
    with staged_folder(target, "--export") as staging:
        manifest = []
        for done, case in enumerate(cases, 1):
            manifest.append(_write_case(case, staging / case.name, shapes))
            if progress is not None:
                progress(done, len(cases), case.name)
        tolerance = numbers.TOLERANCE
        document = {
            "generator": f"rnninspect {__version__} conformance --export",
            "layout": "ONNX backend test: <case>/model.onnx, <case>/test_data_set_K/"
            "input_J.pb and output_J.pb (TensorProto), inputs in the graph's order",
            "expected": "ONNX's equations in float64, stored as float32",
            "tolerance": {
                "atol": tolerance.atol,
                "rtol": tolerance.rtol,
                "rule": "|actual - expected| <= atol * max(1, max|expected|) + rtol * |expected|",
            },
            "cases": manifest,
        }
        (staging / "manifest.json").write_text(json.dumps(document, indent=2) + "\n")
        commit_folder(staging, target, "--export")
    return ExportResult(str(target), len(cases), len(cases) * len(shapes))


def _write_case(case: Case, folder: Path, shapes: Sequence[tuple[int, int]]) -> dict[str, object]:
    folder.mkdir()
    (folder / "model.onnx").write_bytes(model_bytes(case))
    weights = numbers.case_weights(case)
    data_sets = []
    for index, shape in enumerate(shapes):
        data_set = folder / f"test_data_set_{index}"
        data_set.mkdir()
        arrays = {**weights, **numbers.case_data(case, *shape)}
        for j, name in enumerate(case.data):
            (data_set / f"input_{j}.pb").write_bytes(tensor_bytes(arrays[name], name))
        expected = numbers.reference(case, arrays)
        for j, name in enumerate(case.output_names):
            value = expected[name].astype(np.float32)
            (data_set / f"output_{j}.pb").write_bytes(tensor_bytes(value, name))
        data_sets.append({"folder": data_set.name, "seq_len": shape[0], "batch": shape[1]})
    described = describe_case(case)
    return {
        "case": case.name,
        "op": described["op"],
        "opset": described["opset"],
        "attributes": described["attributes"],
        "inputs": list(case.data),
        "outputs": list(case.output_names),
        "test_data_sets": data_sets,
    }
