"""``rnninspect conformance``: the suite covers every attribute and each of its cases is sensitive
to what it sets (the pair tests); runtimes with a planted fault (a wrong gate order, an ignored
clip, ignored sequence_lens) are caught; a crash or a hang is the case's own; the export reads
back as ONNX's backend tests read their data; the command's options, JSON and exit codes."""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnninspect.commands.conformance import numbers
from rnninspect.commands.conformance.conformance import run_suite, select
from rnninspect.commands.conformance.workers import run_isolated
from rnninspect.model.conformance import SHAPES, SLOTS, suite
from rnninspect.model.operator import ACTIVATIONS, DEFAULT_ACTIVATIONS
from tests.clirun import Invocation

ATTRIBUTES = {
    "direction",
    "layout",
    "B",
    "P",
    "initial_h",
    "sequence_lens",
    "clip",
    "input_forget",
    "linear_before_reset",
    "activations",
    "activation_alpha",
    "activation_beta",
}


# ------------------------------------------------------------------ the suite itself


def test_the_suite_has_several_hundred_cases_covering_every_attribute() -> None:
    cases = suite()
    assert 250 <= len(cases) <= 400
    assert {case.op for case in cases} == {"LSTM", "GRU", "RNN"}
    assert set().union(*(case.sets for case in cases)) == ATTRIBUTES
    assert {case.opset for case in cases} == {7, 14, 22}
    assert any(case.outputs == ("Y_c",) for case in cases)
    for op, slots in SLOTS.items():
        for slot, default in zip(slots, DEFAULT_ACTIVATIONS[op], strict=True):  # type: ignore[index]
            used = {
                case.node.resolved[0][slots.index(slot)].name
                for case in cases
                if case.op == op and case.node.activations is not None
            }
            assert used >= set(ACTIVATIONS) - {default}, (op, slot)


def _differs(case: Any, twin: Any) -> float:
    """How far the twin's outputs land from the case's on the case's inputs (inf where they
    cannot even be compared: another shape, or inputs the twin reads as another shape)."""
    weights = numbers.case_weights(case)
    largest = 0.0
    for shape in SHAPES:
        arrays = {**weights, **numbers.case_data(case, *shape)}
        ours = numbers.reference(case, arrays)
        try:
            theirs = numbers.reference(twin, arrays)
        except (RuntimeError, IndexError):  # inputs the twin cannot read: layout, direction
            return float("inf")
        for name, value in ours.items():
            if name not in theirs or theirs[name].shape != value.shape:
                return float("inf")
            largest = max(largest, float(np.abs(value - theirs[name]).max()))
    return largest


def test_every_case_differs_from_each_twin_so_an_ignored_attribute_cannot_pass() -> None:
    """The pair tests: for every attribute a case sets, the same model with that attribute at
    its default gives outputs at least 1000 tolerances away on the case's own inputs."""
    tolerance = numbers.TOLERANCE.atol
    weak = [
        (case.name, attribute, gap)
        for case in suite()
        for attribute in case.sets
        if (gap := _differs(case, case.without(attribute))) < 1000 * tolerance
    ]
    assert weak == []


def test_a_pair_test_would_find_an_attribute_that_changes_nothing() -> None:
    case = next(c for c in suite() if c.name == "rnn-forward-clip")
    import dataclasses

    harmless = dataclasses.replace(case, node=dataclasses.replace(case.node, clip=1e6))
    assert _differs(harmless, harmless.without("clip")) == 0.0


def test_selection_filter_and_shards() -> None:
    every = select()
    assert len(every) == len(suite())
    assert all(c.op == "GRU" for c in select(["gru"]))
    clip = select(text="clip")
    assert clip and all("clip" in c.name or "clip" in c.node.describe() for c in clip)
    assert {c.name for c in select(text="f=Elu,layout1")} == {
        c.name for c in every if "f=Elu" in c.name or c.node.layout == 1
    }
    shards = [select(shard=(k, 3)) for k in (1, 2, 3)]
    names = [c.name for part in shards for c in part]
    assert sorted(names) == sorted(c.name for c in every) and len(set(names)) == len(names)
    assert all({c.op for c in part} == {"LSTM", "GRU", "RNN"} for part in shards)


# ------------------------------------------------------------------ runtimes, real and planted

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from rnninspect.core.onnx_runtimes import OnnxRuntime, OperatorRuntime, Run  # noqa: E402


class Planted(OnnxRuntime):
    """ONNX Runtime behind a change to the model, as a runtime with that bug would run it."""

    def __init__(self, name: str, change: Callable[[Any], None]) -> None:
        super().__init__()
        self.name = name
        self.change = change

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        proto = onnx.load_from_string(model)
        self.change(proto)
        return super().load(proto.SerializeToString(), outputs)


def _node(proto: Any) -> Any:
    return next(n for n in proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN"))


def swap_forget_and_output_gates(proto: Any) -> None:
    """Read LSTM's W, R and B blocks as i, f, o, c: ONNX's o and f swapped."""
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name in ("W", "R", "B") and _node(proto).op_type == "LSTM":
            value = numpy_helper.to_array(init)
            blocks = np.split(value, 8 if init.name == "B" else 4, axis=1)
            order = [0, 2, 1, 3, 4, 6, 5, 7] if init.name == "B" else [0, 2, 1, 3]
            swapped = np.concatenate([blocks[i] for i in order], axis=1)
            init.CopyFrom(numpy_helper.from_array(swapped, init.name))


def drop_clip(proto: Any) -> None:
    node = _node(proto)
    kept = [a for a in node.attribute if a.name != "clip"]
    del node.attribute[:]
    node.attribute.extend(kept)


def drop_sequence_lens(proto: Any) -> None:
    node = _node(proto)
    if len(node.input) > 4:
        node.input[4] = ""


@pytest.mark.parametrize(
    ("planted", "text", "caught"),
    [
        (Planted("wrong-gate-order", swap_forget_and_output_gates), "lstm-forward", "lstm-forward"),
        (Planted("ignores-clip", drop_clip), "gru-forward-clip,rnn-forward-clip", "clip"),
        (Planted("ignores-sequence_lens", drop_sequence_lens), "gru-reverse,rnn-forward", "lens"),
    ],
    ids=["wrong gate order", "ignored clip", "ignored sequence_lens"],
)
def test_a_planted_fault_is_caught(planted: OperatorRuntime, text: str, caught: str) -> None:
    # ONNX Runtime refuses layout=1 and gets an LSTM's clip wrong of itself: those are left out
    lstm_clip = [c for c in select(text=text) if c.op == "LSTM" and c.node.clip is not None]
    cases = [c for c in select(text=text) if c.node.layout == 0 and c not in lstm_clip]
    honest = run_suite(cases, "onnxruntime")
    planted_run = run_suite(cases, planted, jobs=2)
    for fair, found in zip(honest.cases, planted_run.cases, strict=True):
        if caught in found.name:
            assert fair.verdict == "pass", fair.message()
            assert found.verdict == "fail", found.name
            assert "where the equations give" in found.message()
        else:
            assert found.verdict == fair.verdict == "pass", found.name
    assert sum(caught in c.name for c in cases) >= 2


def test_onnx_runtime_refusing_layout_1_is_unsupported_not_fail() -> None:
    result = run_suite(select(text="gru-forward-layout1"), "onnxruntime")
    assert {case.verdict for case in result.cases} == {"unsupported"}
    assert "layout" in result.cases[0].message()
    assert result.verdict == "pass"  # nothing failed: refusals are counted apart


class Crashing(OnnxRuntime):
    """Dies on the models with a clip, as a native runtime's segmentation fault would."""

    name = "crashing"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        if b"clip" in model:
            os.abort()
        return super().load(model, outputs)


class Hanging(OnnxRuntime):
    name = "hanging"

    def load(self, model: bytes, outputs: Sequence[str]) -> Run:
        if b"clip" in model:
            time.sleep(60)
        return super().load(model, outputs)


def test_a_crash_or_a_hang_fails_its_case_alone() -> None:
    cases = select(text="rnn-forward")[:2] + select(text="rnn-forward-clip")[:1]
    cases += select(text="rnn-reverse")[:1]
    crashed = run_isolated(cases, Crashing(), jobs=2, shapes=SHAPES)
    assert [c.verdict for c in crashed] == ["pass", "pass", "fail", "pass"]
    assert "crashed (SIGABRT)" in crashed[2].message()
    hung = run_isolated(cases[2:], Hanging(), shapes=SHAPES, timeout=2)
    assert [c.verdict for c in hung] == ["fail", "pass"]
    assert "did not finish the case in 2 s" in hung[0].message()


# ------------------------------------------------------------------ the command


def test_conformance_json_table_and_exit_codes(cli: Any, tmp_path: Path) -> None:
    ran = cli(
        "conformance",
        "--runtime",
        "onnxruntime",
        "--filter",
        "gru-forward",
        "--format",
        "json",
        "--junit-xml",
        str(tmp_path / "c.xml"),
    )
    assert ran.code == 0, ran.err
    doc = ran.document
    (run,) = doc["runtimes"]
    assert run["runtime"] == "onnxruntime" and run["version"].startswith("ONNX Runtime")
    assert doc["verdict"] == "pass" and doc["ok"] is True
    verdicts = {case["verdict"] for case in run["cases"]}
    assert verdicts <= {"pass", "unsupported"} and "pass" in verdicts
    row = run["cases"][0]["rows"][0]
    assert {
        "tensor",
        "seq_len",
        "batch",
        "max_abs_err",
        "atol",
        "rtol",
        "noise_floor",
        "verdict",
    } <= set(row)
    xml = ET.parse(tmp_path / "c.xml").getroot()
    suite_xml = xml.find("testsuite")
    assert suite_xml is not None and int(suite_xml.get("tests", 0)) == len(run["cases"])
    assert int(suite_xml.get("skipped", 0)) == run["counts"]["unsupported"]

    strict = cli("conformance", "--runtime", "onnxruntime", "--filter", "gru-forward", "--strict")
    assert strict.code == 1 and "unsupported counted as fail" in strict.out

    failing = cli("conformance", "--runtime", "onnxruntime", "--filter", "lstm-forward-clip")
    assert failing.code == 1
    assert "fail  lstm-forward-clip" in failing.out and "Y[t=" in failing.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --runtime R"),
        (("--runtime", "tensorrt"), "the runtimes are onnxruntime"),
        (("--runtime", "onnxruntime", "--op", "lstm,cnn"), "--op cnn"),
        (("--runtime", "onnxruntime", "--filter", "no-such-case"), "no case matches"),
        (("--runtime", "onnxruntime", "--shard", "4/3"), "--shard"),
        (("--runtime", "onnxruntime,onnxruntime"), "given twice"),
        (("--runtime", "onnxruntime", "--jobs", "0"), "--jobs"),
    ],
)
def test_bad_input_is_one_error_line(cli: Any, args: tuple[str, ...], message: str) -> None:
    ran = cli("conformance", *args)
    assert ran.code == 2 and message in ran.err and ran.err.count("\n") == 1, ran.err
    assert ran.out == ""


def test_a_runtime_not_installed_exits_3_with_the_install_line(cli: Any, monkeypatch: Any) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tract" else real(name, *a)
    )
    ran = cli("conformance", "--runtime", "tract")
    assert ran.code == 3 and "pip install 'rnninspect[tract]'" in ran.err


# ------------------------------------------------------------------ --export


def run_backend_layout(folder: Path) -> dict[str, bool]:
    """A runner written from the backend-test layout alone: model.onnx, then each
    test_data_set_K's input_J.pb fed in the graph's input order and its output_J.pb compared,
    with the tolerance the manifest gives, as ONNX Runtime runs the model."""
    import onnxruntime
    from onnx import TensorProto, numpy_helper

    def read(path: Path) -> np.ndarray:
        tensor = TensorProto()
        tensor.ParseFromString(path.read_bytes())
        return numpy_helper.to_array(tensor)

    manifest = json.loads((folder / "manifest.json").read_text())
    atol, rtol = manifest["tolerance"]["atol"], manifest["tolerance"]["rtol"]
    verdicts = {}
    for entry in manifest["cases"]:
        case_dir = folder / entry["case"]
        try:
            session = onnxruntime.InferenceSession(
                str(case_dir / "model.onnx"), providers=["CPUExecutionProvider"]
            )
        except Exception:
            verdicts[entry["case"]] = False
            continue
        names = [i.name for i in session.get_inputs()]
        ok = True
        for data_set in sorted(case_dir.glob("test_data_set_*")):
            inputs = [read(p) for p in sorted(data_set.glob("input_*.pb"))]
            expected = [read(p) for p in sorted(data_set.glob("output_*.pb"))]
            found = session.run(None, dict(zip(names, inputs, strict=True)))
            for got, want in zip(found, expected, strict=True):
                scale = max(1.0, float(np.abs(want).max()))
                ok &= bool(np.all(np.abs(got - want) <= atol * scale + rtol * np.abs(want) + 1e-6))
        verdicts[entry["case"]] = ok
    return verdicts


def test_export_writes_the_backend_test_layout_that_reads_back(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "suite"
    ran = cli(
        "conformance",
        "--export",
        str(target),
        "--filter",
        "rnn-forward,lstm-bidirectional-clip",
        "--format",
        "json",
    )
    assert ran.code == 0, ran.err
    assert ran.document["export"]["cases"] == len(list(target.glob("*/model.onnx")))
    case_dir = target / "rnn-forward-lens"
    assert sorted(p.name for p in case_dir.iterdir()) == [
        "model.onnx",
        "test_data_set_0",
        "test_data_set_1",
        "test_data_set_2",
    ]
    assert sorted(p.name for p in (case_dir / "test_data_set_1").iterdir()) == [
        "input_0.pb",
        "input_1.pb",
        "input_2.pb",
        "output_0.pb",
        "output_1.pb",
    ]
    verdicts = run_backend_layout(target)
    assert verdicts["rnn-forward-lens"] and verdicts["rnn-forward"]
    assert not verdicts["lstm-bidirectional-clip"]  # ONNX Runtime's clip before h(C_t), again
    again = cli("conformance", "--export", str(target), "--filter", "rnn-forward")
    assert again.code == 2 and "not empty" in again.err
    assert [p.name for p in tmp_path.iterdir()] == ["suite"]  # no staging folder left behind


@pytest.mark.parametrize("name", ["openvino", "tract", "onnx-reference"])
def test_the_other_runtimes_run_the_plain_cases(name: str) -> None:
    module = {"openvino": "openvino", "tract": "tract", "onnx-reference": "onnx.reference"}[name]
    pytest.importorskip(module)
    result = run_suite(select(text="rnn-forward-nobias,gru-bidirectional-nobias"), name)
    plain = {c.name: c for c in result.cases}
    assert plain["rnn-forward-nobias"].verdict == "pass", plain["rnn-forward-nobias"].message()
    assert plain["gru-bidirectional-nobias"].verdict == "pass"
    assert result.version


def test_every_json_key_is_in_json_md(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    from tests.test_docs import _all_keys_described

    args = ["--runtime", "onnxruntime", "--filter", "rnn-forward-clip,lstm-forward-clip"]
    result = cli(
        "conformance", *args, "--export", str(tmp_path / "x"), "--shard", "1/2", "--format", "json"
    )
    assert result.code == 1
    _all_keys_described(result.document)


def _reproductions() -> list[tuple[list[str], str, str]]:
    """docs/conformance.md's reproductions: (the export command's arguments, the Python block
    after it, the runtime module it imports)."""
    import re
    import shlex

    text = (Path(__file__).resolve().parent.parent / "docs" / "conformance.md").read_text()
    found = []
    pattern = r"```\n\$ rnninspect (conformance --export [^\n]+)\n```\n\n```python\n(.*?)```"
    for command, code in re.findall(pattern, text, re.S):
        module = next(
            m
            for m in ("onnxruntime", "openvino", "tract", "onnx.reference")
            if f"import {m}" in code or f"from {m} import" in code
        )
        found.append((shlex.split(command), code, module))
    return found


@pytest.mark.parametrize(("command", "code", "module"), _reproductions(), ids=lambda v: str(v)[:40])
def test_the_reproductions_in_conformance_md_run_and_show_the_error(
    command: list[str],
    code: str,
    module: str,
    cli: Callable[..., Invocation],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each block runs, with nothing but its runtime and onnx, on what the export command
    before it wrote, and prints the error the page says it does (more than the tolerance)."""
    import subprocess
    import sys

    pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    assert cli(*command).code == 0
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    printed = float(ran.stdout.split()[-1])
    claimed = re.search(r"# ([\d.]+):", code)
    assert printed > 1e-3
    if claimed:
        assert abs(printed - float(claimed.group(1))) < 0.01, (printed, claimed.group(1))
