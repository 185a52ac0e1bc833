"""``rnninspect verify --onnx FILE`` without ``--weights``: any file's LSTM, GRU and RNN nodes,
with the weights the file holds, against the ONNX equations, alone and inside the graph."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tests.clirun import Invocation

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from rnninspect.commands import onnx_file  # noqa: E402
from rnninspect.core.onnx_runtimes import OnnxRuntime, Run  # noqa: E402


def _export(module: nn.Module, path: Path, batch_first: bool = False) -> None:
    """torch's legacy exporter, L and N dynamic, initial states as inputs."""
    x = torch.randn(3, 5, 4) if batch_first else torch.randn(5, 3, 4)
    layers = module.num_layers * (2 if module.bidirectional else 1)  # type: ignore[operator]
    state = torch.randn(layers, 3, module.hidden_size)  # type: ignore[arg-type]
    lstm = isinstance(module, nn.LSTM)
    states = (state, torch.randn_like(state)) if lstm else state
    names = ["x", "h0", "c0"] if lstm else ["x", "h0"]
    seq_axes = {0: "N", 1: "L"} if batch_first else {0: "L", 1: "N"}
    axes = {"x": seq_axes, "h0": {1: "N"}, "c0": {1: "N"}, "y": seq_axes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x, states),
            path,
            dynamo=False,
            input_names=names,
            output_names=["y"],
            dynamic_axes={k: v for k, v in axes.items() if k in [*names, "y"]},
        )


def _hand_built(path: Path, op: str = "GRU", hidden: int = 4, **attributes: Any) -> None:
    """One recurrent node between a Transpose and an Identity, built with onnx.helper alone:
    input (N, L, 3) batch-first, weights as initializers under names of their own."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    rng = np.random.default_rng(3)
    w = rng.uniform(-0.7, 0.7, (1, gates * hidden, 3)).astype(np.float32)
    r = rng.uniform(-0.7, 0.7, (1, gates * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-0.7, 0.7, (1, 2 * gates * hidden)).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["batch_major"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node(
            op,
            ["time_major", "enc.W", "enc.R", "enc.B"],
            ["", "enc.h"],
            hidden_size=hidden,
            name="encoder",
            **attributes,
        ),
        helper.make_node("Identity", ["enc.h"], ["state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("batch_major", TensorProto.FLOAT, ["batch", "time", 3])],
        [helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, "batch", hidden])],
        [
            numpy_helper.from_array(w, "enc.W"),
            numpy_helper.from_array(r, "enc.R"),
            numpy_helper.from_array(b, "enc.B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=7)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_a_torch_export_passes_alone_and_in_the_graph(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    path = tmp_path / "lstm.onnx"
    _export(nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True), path, True)
    result = cli("verify", "--onnx", path, "--format", "json")
    assert result.code == 0, result.out
    (run,) = result.document["runtimes"]
    inputs = {entry["name"]: entry["dims"] for entry in run["graph"]["inputs"]}
    assert run["graph"]["ran"] and inputs["x"] == ["N", "L", 4]
    assert inputs["h0"] == [4, "N", 8]  # sized by the symbol x gave N
    assert [n["verdict"] for n in run["nodes"]] == ["pass", "pass"]
    rows = run["nodes"][1]["in_graph"]["rows"]
    assert {(r["tensor"], r["seq_len"], r["batch"]) for r in rows} >= {("Y", 5, 3), ("Y", 8, 4)}
    assert {"max_abs_err", "max_rel_err", "atol", "rtol", "ok", "verdict", "noise_floor"} <= set(
        rows[0]
    )
    table = cli("verify", "--onnx", path, "--seq-len", "2", "--batch", "1")
    assert table.code == 0 and "(L=2, N=1), (L=5, N=2)" in table.out.replace("\n", " ")


class DropsClip(OnnxRuntime):
    """ONNX Runtime behind a change that drops every recurrent node's clip, as a runtime that
    ignores the attribute would run it."""

    def load(self, model: bytes, outputs: Any) -> Run:
        proto = onnx.load_from_string(model)
        for node in proto.graph.node:
            if node.op_type in ("LSTM", "GRU", "RNN"):
                kept = [a for a in node.attribute if a.name != "clip"]
                del node.attribute[:]
                node.attribute.extend(kept)
        return super().load(proto.SerializeToString(), outputs)


def test_a_runtime_that_ignores_clip_fails_the_file(
    cli: Callable[..., Invocation], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gru.onnx"
    _hand_built(path, "GRU", clip=0.3)
    honest = cli("verify", "--onnx", path, "--format", "json")
    assert honest.code == 0, honest.out  # ONNX Runtime clips a GRU as the equations say
    graph = honest.document["runtimes"][0]["graph"]
    # sized through the Transpose
    assert graph["ran"] and graph["inputs"] == [{"name": "batch_major", "dims": ["N", "L", 3]}]
    monkeypatch.setattr(onnx_file, "runtime", lambda name: DropsClip())
    planted = cli("verify", "--onnx", path, "--format", "json")
    assert planted.code == 1
    (node,) = planted.document["runtimes"][0]["nodes"]
    assert node["alone"]["verdict"] == node["in_graph"]["verdict"] == "fail"
    assert "where the equations give" in node["alone"]["message"]
    assert planted.document["verdict"] == "fail" and not planted.document["ok"]


def test_onnx_runtimes_clip_before_h_of_c_is_found_in_a_users_file(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    path = tmp_path / "lstm.onnx"
    _hand_built(path, "LSTM", clip=0.4)
    result = cli("verify", "--onnx", path)
    assert result.code == 1 and "fail" in result.out and "Verdict: fail." in result.out


def test_weights_the_graph_computes_are_said_not_guessed(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    path = tmp_path / "gru.onnx"
    _hand_built(path, "GRU")
    model = onnx.load(path)
    model.graph.node.insert(0, helper.make_node("Identity", ["enc.W"], ["enc.W2"]))
    recurrent = next(n for n in model.graph.node if n.op_type == "GRU")
    recurrent.input[1] = "enc.W2"
    onnx.save(model, path)
    result = cli("verify", "--onnx", path, "--format", "json")
    assert result.code == 1
    (node,) = result.document["runtimes"][0]["nodes"]
    assert node["verdict"] == "unchecked" and node["alone"] is None
    assert "computed by Identity node" in node["problem"]
    assert result.document["verdict"] == "unchecked"
    assert "pass" not in cli("verify", "--onnx", path).out.split("Verdict:")[-1]


def test_an_input_it_cannot_size_leaves_the_graph_unrun_and_says_why(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    path = tmp_path / "tokens.onnx"
    _hand_built(path, "RNN")
    model = onnx.load(path)
    table = numpy_helper.from_array(np.ones((10, 3), np.float32), "table")
    model.graph.initializer.append(table)
    model.graph.node.insert(0, helper.make_node("Gather", ["table", "ids"], ["batch_major"]))
    del model.graph.input[:]
    model.graph.input.append(helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "t"]))
    onnx.save(model, path)
    result = cli("verify", "--onnx", path, "--format", "json")
    run = result.document["runtimes"][0]
    assert not run["graph"]["ran"] and "'ids' is not a float tensor" in run["graph"]["not_run"]
    assert run["nodes"][0]["alone"]["verdict"] == "pass" and run["nodes"][0]["in_graph"] is None
    # the node passed alone, in a model rnninspect made of it; the file itself never ran
    assert result.code == 1 and run["verdict"] == result.document["verdict"] == "unchecked"
    assert "the whole graph was not run" in cli("verify", "--onnx", path).out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nn.GRU(3, 4)"], "a SPEC has no meaning here"),
        (["--cell", "gru"], "--cell has no meaning here"),
        (["--device", "cpu"], "--device has no meaning here"),
        (["--runtime", "eager"], "the runtimes are onnxruntime"),
        (["--seq-len", "0"], "--seq-len must be at least 1"),
    ],
)
def test_options_about_a_torch_module_are_refused(
    cli: Callable[..., Invocation], tmp_path: Path, args: list[str], said: str
) -> None:
    path = tmp_path / "gru.onnx"
    _hand_built(path, "GRU")
    result = cli("verify", *args, "--onnx", path)
    assert result.code == 2 and said in result.err and result.out == ""


def test_a_file_without_recurrent_nodes_is_refused(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "relu.onnx")
    result = cli("verify", "--onnx", tmp_path / "relu.onnx")
    assert result.code == 2 and "no LSTM, GRU or RNN node" in result.err


def test_every_json_key_is_in_json_md(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    from tests.test_docs import _all_keys_described

    path = tmp_path / "gru.onnx"
    _hand_built(path, "GRU", clip=0.3)
    _all_keys_described(cli("verify", "--onnx", path, "--format", "json").document)


def test_a_graph_that_bakes_in_its_length_fails_in_the_graph(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    """A Reshape to the example's length, as torch's dynamo exporter writes for nn.GRU
    (pytorch#191855): the node passes alone, the whole file fails at the other length."""
    path = tmp_path / "gru.onnx"
    _hand_built(path, "GRU")
    model = onnx.load(path)
    recurrent = next(n for n in model.graph.node if n.op_type == "GRU")
    recurrent.output[0] = "enc.y"
    shape = numpy_helper.from_array(np.array([5, -1, 4], np.int64), "baked")
    model.graph.initializer.append(shape)
    model.graph.node.append(helper.make_node("Reshape", ["enc.y", "baked"], ["y"]))
    model.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
    onnx.save(model, path)
    result = cli("verify", "--onnx", path, "--format", "json")
    assert result.code == 1
    (node,) = result.document["runtimes"][0]["nodes"]
    assert node["alone"]["verdict"] == "pass" and node["in_graph"]["verdict"] == "fail"
    assert "the whole graph failed to run at L=8 N=4" in node["in_graph"]["message"]
    assert [row["seq_len"] for row in node["in_graph"]["rows"]][:1] == [5]  # L=5 was judged
