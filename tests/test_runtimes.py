"""verify --runtime: compile, export and ONNX Runtime judged against the reference, at the
example's shapes and at others, with each runtime's refusal or failure as a verdict.

What the runtimes do is pinned as measured with torch 2.13 and onnxruntime 1.32 (docs/runtimes.md);
where a later version changes an outcome, the assertion that breaks names it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main

STACKED = "num_layers=2, bidirectional=True, batch_first=True"


def verify(*args: str) -> tuple[int, dict[str, object], str]:
    done = invoke("verify", *args, "--format", "json")
    assert done.out, done.err
    return done.code, done.document, done.err


def runs(doc: dict[str, object]) -> list[dict[str, object]]:
    found = doc["runtimes"]
    assert isinstance(found, list)
    return found


def versions() -> str:
    import onnxruntime

    return f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_compile_matches_at_every_shape(cell: str) -> None:
    code, doc, _ = verify(
        f"nn.{cell}(6, 8, {STACKED})", "--runtime", "compile", "--compile-backend", "eager"
    )
    assert code == 0, doc
    found = runs(doc)
    assert [(r["seq_len"], r["batch"]) for r in found] == [(5, 3), (8, 4)]
    for result in found:
        assert result["verdict"] == "pass" and result["gradients"] is True
        names = [row["tensor"] for row in result["parity"]]
        assert "grad:weight_hh_l1_reverse" in names and "output" in names
        assert result["detail"].startswith("torch.compile, backend eager: dynamo captured no graph")


def test_compile_with_the_default_backend_says_which_ran() -> None:
    code, doc, _ = verify("nn.GRU(4, 8)", "--runtime", "compile")
    assert code == 0
    assert runs(doc)[0]["detail"].startswith("torch.compile, backend inductor: ")


def _dynamo_explains(module: torch.nn.Module, *args: torch.Tensor) -> tuple[int, int]:
    """Graphs and ops that dynamo's own explain finds in one call, counted by this test."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        found = torch._dynamo.explain(module)(*args)
    finally:
        torch._dynamo.reset()
    return found.graph_count, found.op_count


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_compile_of_a_sequence_module_says_it_ran_eagerly(cell: str) -> None:
    """dynamo captures no graph from nn.LSTM/GRU/RNN: the pass is eager PyTorch's, and the
    report says so rather than "torch.compile: pass"."""
    module = getattr(torch.nn, cell)(4, 8)
    assert _dynamo_explains(module, torch.randn(5, 3, 4)) == (0, 0)  # dynamo's own count
    code, doc, _ = verify(f"nn.{cell}(4, 8)", "--runtime", "compile", "--compile-backend", "eager")
    assert code == 0
    for result in runs(doc):
        compiled = result["compiled"]
        assert isinstance(compiled, dict)
        assert compiled["graphs"] == 0 and compiled["ran_eagerly"] is True
        assert "Attempted to wrap RNN, GRU, or LSTM" in str(compiled["reason"])
        assert "nothing was compiled and the module ran eagerly" in str(result["detail"])
    text = (
        CliRunner()
        .invoke(
            main,
            ["verify", f"nn.{cell}(4, 8)", "--runtime", "compile", "--compile-backend", "eager"],
        )
        .stdout
    )
    flat = " ".join(text.split())
    assert "compile (ran eagerly)" in flat and "(compile: ran eagerly, nothing compiled)" in flat


def test_compile_of_a_cell_counts_what_dynamo_compiled() -> None:
    module = torch.nn.LSTMCell(4, 8)
    graphs, ops = _dynamo_explains(
        module, torch.randn(3, 4), (torch.randn(3, 8), torch.randn(3, 8))
    )
    assert graphs == 1 and ops > 0
    code, doc, _ = verify("nn.LSTMCell(4, 8)", "--runtime", "compile", "--compile-backend", "eager")
    assert code == 0
    compiled = runs(doc)[0]["compiled"]
    assert isinstance(compiled, dict)
    assert (compiled["graphs"], compiled["ops"]) == (graphs, ops)
    assert compiled["ran_eagerly"] is False and compiled["graph_breaks"] == 0


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_fullgraph_makes_the_graph_break_a_failure_with_dynamos_reason(cell: str) -> None:
    import torch._dynamo

    module = getattr(torch.nn, cell)(4, 8)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="Attempted to wrap RNN, GRU, or LSTM"):
        torch.compile(module, backend="eager", fullgraph=True)(torch.randn(5, 3, 4))
    torch._dynamo.reset()
    code, doc, _ = verify(
        f"nn.{cell}(4, 8)", "--runtime", "compile", "--compile-backend", "eager", "--fullgraph"
    )
    assert code == 1 and doc["ok"] is False
    for result in runs(doc):
        assert result["verdict"] == "fail" and result["parity"] == []
        assert "Attempted to wrap RNN, GRU, or LSTM" in str(result["error"])
    code, doc, _ = verify(
        "nn.GRUCell(4, 8)", "--runtime", "compile", "--compile-backend", "eager", "--fullgraph"
    )
    assert code == 0, doc


def test_fullgraph_needs_the_compile_runtime() -> None:
    result = CliRunner().invoke(main, ["verify", "nn.GRU(4, 8)", "--fullgraph"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --fullgraph is torch.compile's: it needs --runtime compile\n"


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_export_with_a_dynamic_sequence_length_is_refused_as_a_failure(cell: str) -> None:
    code, doc, _ = verify(f"nn.{cell}(6, 8, {STACKED})", "--runtime", "export")
    assert code == 1 and doc["ok"] is False
    for result in runs(doc):
        assert result["verdict"] == "fail" and result["parity"] == []
        assert "Constraints violated (L)" in str(result["error"]), torch.__version__


@pytest.mark.parametrize("cell", ["GRUCell", "LSTMCell", "RNNCell"])
def test_every_runtime_runs_the_cells(cell: str) -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify(
        f"nn.{cell}(6, 8)", "--runtime", "compile,export,onnx", "--compile-backend", "eager"
    )
    assert code == 0, [(r["runtime"], r["error"]) for r in runs(doc)]
    onnx = [r for r in runs(doc) if r["runtime"] == "onnx"]
    assert onnx and all(r["gradients"] is False for r in onnx)
    assert all(not str(row["tensor"]).startswith("grad:") for r in onnx for row in r["parity"])


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_the_legacy_onnx_exporter_matches_at_every_shape(cell: str) -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify(
        f"nn.{cell}(6, 8, {STACKED})", "--runtime", "onnx", "--exporter", "legacy"
    )
    assert code == 0, [(r["error"]) for r in runs(doc)]
    assert [r["verdict"] for r in runs(doc)] == ["pass", "pass"]


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "works"), [("LSTM", True), ("GRU", True), ("RNN", False)])
def test_the_dynamo_onnx_exporter_on_stacked_modules(cell: str, works: bool) -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify(f"nn.{cell}(6, 8, {STACKED})", "--runtime", "onnx")
    at_example, at_other = runs(doc)
    assert at_example["verdict"] == "pass"
    assert (at_other["verdict"] == "pass") == works, (versions(), at_other["error"])
    assert code == (0 if works else 1)


def test_a_gru_exported_by_dynamo_bakes_in_its_sequence_length() -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify("nn.GRU(10, 20)", "--runtime", "onnx")
    at_example, at_other = runs(doc)
    assert code == 1 and at_example["verdict"] == "pass"
    assert at_other["verdict"] == "fail" and at_other["seq_len"] == 8
    assert "ONNX Runtime" in str(at_other["error"]) and "Reshape" in str(at_other["error"]), (
        versions()
    )
    # the part that says why is kept: it was cut off just before it
    assert "requested shape:{5,-1,20}" in str(at_other["error"]), versions()
    assert "onnxruntime_src" not in str(at_other["error"])


def test_a_runtime_message_keeps_what_names_the_shape_or_op() -> None:
    """ONNX Runtime's message, as it gave it: its source location and status prefix go, and a
    message still too long keeps its start (the node) and its end (the shapes)."""
    from rnninspect.core.runtimes.base import one_line

    raw = (
        "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape "
        "node. Name:'node_Reshape_55' Status Message: /onnxruntime_src/onnxruntime/core/"
        "providers/cpu/tensor/reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper("
        "const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) size != 0 && "
        "(input_shape_size % size) == 0 was false. The input tensor cannot be reshaped to the "
        "requested shape. Input shape:{8,4,1,20}, requested shape:{5,-1,20}\n"
    )
    line = one_line(raw)
    assert line.startswith("Non-zero status code returned while running Reshape node")
    assert line.endswith("Input shape:{8,4,1,20}, requested shape:{5,-1,20}")
    assert "reshape_helper.h" not in line and "[ONNXRuntimeError]" not in line
    short = one_line(raw, longest=120)
    assert len(short) <= 120 and "node_Reshape" not in short[-40:]
    assert short.startswith("Non-zero status") and short.endswith("requested shape:{5,-1,20}")


def test_a_projected_lstm_fails_in_onnx_runtime_and_is_refused_by_the_legacy_exporter() -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify("nn.LSTM(10, 20, proj_size=8)", "--runtime", "onnx")
    assert code == 1
    assert "initial_c must have shape" in str(runs(doc)[0]["error"]), versions()
    code, doc, _ = verify(
        "nn.LSTM(10, 20, proj_size=8)", "--runtime", "onnx", "--exporter", "legacy"
    )
    assert code == 1
    assert str(runs(doc)[0]["error"]).startswith("torch.onnx.export (legacy)")


def test_the_table_view_shows_runtimes_and_their_failures_in_one_line_each() -> None:
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(main, ["verify", "nn.GRU(10, 20)", "--runtime", "eager,onnx"])
    assert result.exit_code == 1
    text = result.stdout
    assert "Runtimes, each against the float64 reference" in text
    assert "forward only: it has no gradients" in " ".join(text.split())
    assert "onnx at L=8, N=4 fails: ONNX Runtime" in " ".join(text.split())
    assert "FAIL: all 8 eager rows pass; 1 of 2 runtime runs pass." in " ".join(text.split())


def test_the_exporters_print_nothing_into_stdout() -> None:
    pytest.importorskip("onnxruntime")
    for exporter in ("dynamo", "legacy"):
        result = CliRunner().invoke(
            main,
            [
                "verify",
                "nn.LSTM(4, 8, proj_size=2)",
                "--runtime",
                "onnx",
                "--exporter",
                exporter,
                "--format",
                "json",
            ],
        )
        json.loads(result.stdout)


def test_save_artifact_keeps_the_file_that_was_verified(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "gru.onnx"
    code, doc, _ = verify("nn.GRUCell(4, 8)", "--runtime", "onnx", "--save-artifact", str(path))
    assert code == 0 and runs(doc)[0]["saved"] == str(path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()][:1] == ["input"] or session.get_inputs()
    folder = tmp_path / "all"
    folder.mkdir()
    code, _, _ = verify(
        "nn.GRUCell(4, 8)", "--runtime", "onnx,export", "--save-artifact", str(folder)
    )
    assert code == 0 and sorted(p.name for p in folder.iterdir()) == ["export.pt2", "onnx.onnx"]


def test_a_missing_onnx_extra_exits_3_with_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = CliRunner().invoke(main, ["verify", "nn.GRU(4, 8)", "--runtime", "onnx"])
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "Error: --runtime onnx needs ONNX Runtime: pip install 'rnninspect[onnx]'"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "tflite"], "--runtime must be one of eager, compile, export, onnx"),
        (["--other-seq-len", "0"], "--other-seq-len must be an integer"),
    ],
)
def test_bad_runtime_input_exits_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["verify", "--cell", "gru", *args])
    assert result.exit_code == 2 and message in result.stderr


def test_matrix_takes_runtime_in_cases_and_combinations(tmp_path: Path) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text(
        '[[case]]\nspec = "nn.GRU(4, 8)"\nruntime = "compile"\n'
        '[matrix]\ncell = ["rnn_cell"]\nruntime = ["eager", "export"]\n'
    )
    result = CliRunner().invoke(main, ["matrix", str(matrix), "--format", "json"])
    assert result.exit_code == 0, result.stdout
    cases = json.loads(result.stdout)["cases"]
    assert [case["verdict"] for case in cases] == ["pass", "pass", "pass"]


def test_bench_times_each_runtime_beside_the_module() -> None:
    args = [
        "bench",
        "nn.GRUCell(4, 8)",
        "--runtime",
        "compile",
        "--compile-backend",
        "eager",
        "--min-time",
        "0.01",
        "--backward",
        "--format",
        "json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"module", "reference", "compile", "compile_backward"} <= set(doc["timing"])
    assert doc["runtime_details"]["compile"].startswith("torch.compile, backend eager: dynamo ")
    result = CliRunner().invoke(
        main,
        ["bench", "nn.GRU(4, 8)", "--runtime", "export", "--min-time", "0.01", "--format", "json"],
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert "Constraints violated (L)" in doc["runtime_errors"]["export"]
    assert "export" not in doc["timing"]


def test_an_onnx_file_the_user_has_is_judged_with_its_weights(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import warnings

    from torch import nn

    module = nn.GRU(4, 8, num_layers=2)
    torch.save(module.state_dict(), tmp_path / "gru.pt")
    x, h = torch.randn(5, 3, 4), torch.randn(2, 3, 8)
    axes = {"seq": {0: "L", 1: "N"}, "state": {1: "N"}, "y": {0: "L", 1: "N"}, "hy": {1: "N"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x, h),
            tmp_path / "mine.onnx",
            dynamo=False,
            input_names=["seq", "state"],
            output_names=["y", "hy"],
            dynamic_axes=axes,
        )
    onnx_file = str(tmp_path / "mine.onnx")
    code, doc, _ = verify("--weights", str(tmp_path / "gru.pt"), "--onnx", onnx_file)
    assert code == 0, [r["error"] for r in runs(doc)]
    assert [r["runtime"] for r in runs(doc)] == ["onnx file", "onnx file"]
    assert "inputs seq -> input, state -> h0 (by name)" in str(runs(doc)[0]["detail"])
    # without --weights the file is checked on its own, with the weights it holds; a SPEC that
    # would have to be trusted to describe the file is refused (tests/test_onnx_file.py)
    code, doc, _ = verify("--onnx", onnx_file)
    assert code == 0 and [n["op"] for n in doc["runtimes"][0]["nodes"]] == ["GRU", "GRU"]  # type: ignore[index]
    spec = CliRunner().invoke(main, ["verify", "nn.GRU(4, 8, num_layers=2)", "--onnx", onnx_file])
    assert spec.exit_code == 2 and "SPEC has no meaning" in spec.stderr
    result = CliRunner().invoke(main, ["verify", "--onnx", str(tmp_path / "none.onnx")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def _onnx_lstm_by_hand(module: torch.nn.LSTM, inputs: list[str]) -> object:
    """A one-layer LSTM as an ONNX graph built with onnx.helper alone: ONNX's LSTM operator on
    torch's weights (gates i,f,g,o reordered to ONNX's i,o,f,c), its graph inputs named and
    ordered as ``inputs`` says (a subset of X, initial_h, initial_c)."""
    from onnx import TensorProto, helper, numpy_helper

    hidden = module.hidden_size

    def onnx_gates(value: torch.Tensor) -> torch.Tensor:
        i, f, g, o = value.detach().chunk(4)
        return torch.cat([i, o, f, g])

    w = onnx_gates(module.weight_ih_l0)[None].numpy()
    r = onnx_gates(module.weight_hh_l0)[None].numpy()
    b = torch.cat([onnx_gates(module.bias_ih_l0), onnx_gates(module.bias_hh_l0)])[None].numpy()
    initializers = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(r, "R"),
        numpy_helper.from_array(b, "B"),
        numpy_helper.from_array(torch.tensor([1]).numpy(), "axis"),
    ]
    given = {name: name for name in inputs}
    node_inputs = ["X", "W", "R", "B", "", given.get("initial_h", ""), given.get("initial_c", "")]
    nodes = [
        helper.make_node(
            "LSTM", node_inputs, ["Y4", "Y_h", "Y_c"], hidden_size=hidden, direction="forward"
        ),
        helper.make_node("Squeeze", ["Y4", "axis"], ["Y"]),
    ]
    shapes = {
        "X": ["L", "N", module.input_size],
        "initial_h": [1, "N", hidden],
        "initial_c": [1, "N", hidden],
    }
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[n]) for n in inputs],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["L", "N", hidden]),
            helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "N", hidden]),
            helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, [1, "N", hidden]),
        ],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    "inputs", [["X", "initial_c", "initial_h"], ["X"]], ids=["states-named-c-first", "x-only"]
)
def test_an_onnx_file_built_by_hand_is_fed_by_its_input_names(
    inputs: list[str], tmp_path: Path
) -> None:
    """Inputs named initial_c, initial_h (c first) were fed by position, h0 into initial_c, and
    a file taking only X was judged against a reference started from a random state: a correct
    file failed at 0.82 either way."""
    onnxruntime = pytest.importorskip("onnxruntime")
    import onnx

    torch.manual_seed(3)
    module = torch.nn.LSTM(4, 8)
    torch.save(module.state_dict(), tmp_path / "lstm.pt")
    onnx.save(_onnx_lstm_by_hand(module, inputs), tmp_path / "lstm.onnx")
    # the file is right: ONNX Runtime on it against torch's module, by this test's own code
    x, h, c = torch.randn(5, 3, 4), torch.randn(1, 3, 8), torch.randn(1, 3, 8)
    if inputs == ["X"]:
        h, c = torch.zeros(1, 3, 8), torch.zeros(1, 3, 8)
    feed = {"X": x.numpy(), "initial_h": h.numpy(), "initial_c": c.numpy()}
    session = onnxruntime.InferenceSession(str(tmp_path / "lstm.onnx"))
    y, y_h, y_c = session.run(None, {name: feed[name] for name in inputs})
    with torch.no_grad():
        output, (h_n, c_n) = module(x, (h, c))
    for got, want in ((y, output), (y_h, h_n), (y_c, c_n)):
        assert torch.allclose(torch.from_numpy(got), want, atol=1e-5)

    code, doc, _ = verify(
        "--weights", str(tmp_path / "lstm.pt"), "--onnx", str(tmp_path / "lstm.onnx")
    )
    assert code == 0, [(r["error"], r["detail"]) for r in runs(doc)]
    detail = str(runs(doc)[0]["detail"])
    if inputs == ["X"]:
        assert "inputs X -> input (by name)" in detail
        assert "it takes no h0, c0: compared from a zero initial state" in detail
    else:
        assert "inputs X -> input, initial_c -> c0, initial_h -> h0 (by name)" in detail
    assert "outputs Y -> output, Y_h -> h_n, Y_c -> c_n (by name)" in detail


def test_an_onnx_file_with_external_data_is_read_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights kept beside the file (``FILE.data``, as dynamo exports keep them) are found
    wherever the command runs: the file is loaded by its path, not as bytes."""
    pytest.importorskip("onnxruntime")
    import onnx

    torch.manual_seed(4)
    module = torch.nn.LSTM(4, 8)
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(module.state_dict(), folder / "lstm.pt")
    onnx.save_model(
        _onnx_lstm_by_hand(module, ["X", "initial_h", "initial_c"]),
        str(folder / "lstm.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="lstm.onnx.data",
        size_threshold=100,  # the weights go to the data file; the Squeeze axis stays inline
    )
    assert (folder / "lstm.onnx.data").stat().st_size > 4 * 8 * 4 * 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, doc, _ = verify("--weights", "../model/lstm.pt", "--onnx", "../model/lstm.onnx")
    assert code == 0, [r["error"] for r in runs(doc)]


def test_packed_input_goes_through_every_runtime_or_is_its_verdict() -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify(
        "nn.LSTM(4, 8, bidirectional=True)",
        "--lengths",
        "5,3,2",
        "--runtime",
        "compile,export,onnx",
        "--compile-backend",
        "eager",
    )
    assert code == 1
    found = {(r["runtime"], r["batch"]): r for r in runs(doc)}
    assert found[("compile", 3)]["verdict"] == found[("compile", 4)]["verdict"] == "pass"
    for name in ("export", "onnx"):
        assert found[(name, 3)]["verdict"] == "fail" and found[(name, 3)]["error"], versions()


def test_the_legacy_onnx_exporter_refuses_packed_input_too() -> None:
    pytest.importorskip("onnxruntime")
    code, doc, _ = verify(
        "nn.GRU(4, 8)", "--lengths", "5,3,2", "--runtime", "onnx", "--exporter", "legacy"
    )
    assert code == 1
    assert all(str(r["error"]).startswith("torch.onnx.export (legacy)") for r in runs(doc))
