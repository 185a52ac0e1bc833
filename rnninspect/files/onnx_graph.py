"""A torch recurrent module as an ONNX graph of ONNX's own ``LSTM``, ``GRU`` and ``RNN``
operators, one node a layer, that runs at every sequence length and batch.

The graph mirrors :func:`~rnninspect.reference.onnx_torch.forward_as_onnx`::

    input (L, N, I), or (N, L, I) batch-first -> Transpose to (L, N, I)
    h0, c0 (layers*D, N, H)                   -> Slice: D rows per layer
    layer l: LSTM/GRU/RNN(X_l, W_l, R_l, B_l, initial_h_l, initial_c_l) -> Y (L, D, N, H)
             Transpose (L, N, D, H), Reshape [0, 0, -1] -> X_{l+1} (L, N, D*H)
    output: the last X (Transpose back where batch-first); h_n, c_n: Concat of every Y_h, Y_c

No shape is written into the graph: L and N are symbolic everywhere (the Reshape copies them
with 0), which is what torch's exporters do not manage for every module (pytorch#191855). A
Cell is one step: its input and states are Unsqueezed to a sequence of one and Y_h Squeezed.
Weights are float32 initializers in ONNX's layout
(:func:`~rnninspect.reference.onnx_torch.onnx_weights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnninspect.files.onnx_model import _onnx
from rnninspect.model.spec import RNNSpec
from rnninspect.reference.onnx_torch import onnx_node, onnx_weights

#: The opsets written: 13 is the first with Unsqueeze's axes as an input, 22 the newest that
#: defines the recurrent operators.
OPSETS = range(13, 23)
DEFAULT_OPSET = 17


def module_model(
    spec: RNNSpec, params: Mapping[str, Tensor], opset: int = DEFAULT_OPSET, packed: bool = False
) -> Any:
    """``spec``'s module with ``params`` (torch's names) as an ONNX model; ``packed`` adds the
    input ``lengths`` (N, int32), every node's ``sequence_lens``: what a packed batch is, ``Y``
    zero past each length and ``Y_h`` the last valid step, as torch's padded output is."""
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    node = onnx_node(spec)
    d, size = node.num_directions, spec.hidden_size
    lstm = spec.cell.family == "lstm"
    nodes: list[Any] = []
    initializers: list[Any] = []

    def constant(name: str, values: list[int]) -> str:
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def weight(name: str, value: Tensor) -> str:
        array = value.detach().to(torch.float32).cpu().numpy()
        initializers.append(numpy_helper.from_array(array, name))
        return name

    attributes: dict[str, Any] = {"hidden_size": size}
    if node.direction != "forward":
        attributes["direction"] = node.direction
    if node.activations is not None:
        attributes["activations"] = list(node.activations)
    if node.linear_before_reset:
        attributes["linear_before_reset"] = 1

    if spec.cell.is_cell:
        layers = 1
        inputs = {"input": ["N", spec.input_size], "h0": ["N", size]}
        if lstm:
            inputs["c0"] = ["N", size]
        axis = constant("axis0", [0])
        nodes.append(helper.make_node("Unsqueeze", ["input", axis], ["x"]))
        nodes.append(helper.make_node("Unsqueeze", ["h0", axis], ["h0_layer0"]))
        if lstm:
            nodes.append(helper.make_node("Unsqueeze", ["c0", axis], ["c0_layer0"]))
        x = "x"
    else:
        layers = spec.num_layers
        seq = ["N", "L", spec.input_size] if spec.batch_first else ["L", "N", spec.input_size]
        inputs = {"input": seq, "h0": [layers * d, "N", size]}
        if lstm:
            inputs["c0"] = [layers * d, "N", size]
        if packed:
            inputs["lengths"] = ["N"]
        x = "input"
        if spec.batch_first:
            nodes.append(helper.make_node("Transpose", ["input"], ["x"], perm=[1, 0, 2]))
            x = "x"
        for state in ("h0", "c0") if lstm else ("h0",):
            for layer in range(layers):
                if layers == 1:
                    nodes.append(helper.make_node("Identity", [state], [f"{state}_layer0"]))
                    continue
                starts = constant(f"{state}_start{layer}", [layer * d])
                ends = constant(f"{state}_end{layer}", [(layer + 1) * d])
                nodes.append(
                    helper.make_node(
                        "Slice",
                        [state, starts, ends, constant(f"{state}_axes{layer}", [0])],
                        [f"{state}_layer{layer}"],
                    )
                )

    finals_h, finals_c = [], []
    for layer in range(layers):
        weights = onnx_weights(spec, params, layer)
        names = [
            x,
            weight(f"W_l{layer}", weights["W"]),
            weight(f"R_l{layer}", weights["R"]),
            weight(f"B_l{layer}", weights["B"]) if "B" in weights else "",
            "lengths" if packed else "",
            f"h0_layer{layer}",
        ]
        outputs = [f"Y_l{layer}", f"Y_h_l{layer}"]
        if lstm:
            names.append(f"c0_layer{layer}")
            outputs.append(f"Y_c_l{layer}")
        nodes.append(
            helper.make_node(
                node.op, names, outputs, name=f"{node.op.lower()}_l{layer}", **attributes
            )
        )
        finals_h.append(outputs[1])
        if lstm:
            finals_c.append(outputs[2])
        if not spec.cell.is_cell:
            nodes.append(
                helper.make_node("Transpose", [outputs[0]], [f"Y_t_l{layer}"], perm=[0, 2, 1, 3])
            )
            shape = constant(f"merge_l{layer}", [0, 0, -1])
            x = f"X_l{layer + 1}"
            nodes.append(helper.make_node("Reshape", [f"Y_t_l{layer}", shape], [x]))

    graph_outputs: dict[str, list[Any]] = {}
    if spec.cell.is_cell:
        nodes.append(helper.make_node("Squeeze", [finals_h[0], "axis0"], ["h1"]))
        graph_outputs["h1"] = ["N", size]
        if lstm:
            nodes.append(helper.make_node("Squeeze", [finals_c[0], "axis0"], ["c1"]))
            graph_outputs["c1"] = ["N", size]
    else:
        if spec.batch_first:
            nodes.append(helper.make_node("Transpose", [x], ["output"], perm=[1, 0, 2]))
            graph_outputs["output"] = ["N", "L", d * size]
        else:
            nodes.append(helper.make_node("Identity", [x], ["output"]))
            graph_outputs["output"] = ["L", "N", d * size]
        for final, names_ in (("h_n", finals_h), ("c_n", finals_c)):
            if names_:
                nodes.append(helper.make_node("Concat", names_, [final], axis=0))
                graph_outputs[final] = [layers * d, "N", size]

    return _model(spec, nodes, inputs, graph_outputs, initializers, opset)


def projected_model(spec: RNNSpec, params: Mapping[str, Tensor], opset: int = DEFAULT_OPSET) -> Any:
    """An LSTM with ``proj_size``, which no ONNX operator computes, written out of the
    operator's pieces: each layer and direction a ``Scan`` whose body is one step of torch's
    equations (MatMul, Add, Split, Sigmoid, Tanh, Mul, then the projection ``h = W_hr (o *
    tanh(c))``), the reverse direction scanned backwards with its outputs laid back in time
    order. Inputs and outputs as :func:`module_model`'s: ``h0`` (layers*D, N, P) and ``c0``
    (layers*D, N, H)."""
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    float_type = onnx.TensorProto.FLOAT
    d, size, proj = spec.num_directions, spec.hidden_size, spec.proj_size
    nodes: list[Any] = []
    initializers: list[Any] = []

    def weight(name: str, value: Tensor) -> str:
        initializers.append(numpy_helper.from_array(value.detach().float().numpy(), name))
        return name

    def ints(name: str, values: list[int] | int) -> str:
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    seq = ["N", "L", spec.input_size] if spec.batch_first else ["L", "N", spec.input_size]
    inputs = {
        "input": seq,
        "h0": [spec.num_layers * d, "N", proj],
        "c0": [spec.num_layers * d, "N", size],
    }
    x = "input"
    if spec.batch_first:
        nodes.append(helper.make_node("Transpose", ["input"], ["x"], perm=[1, 0, 2]))
        x = "x"
    quarters = ints("quarters", [size] * 4)
    finals_h: list[str] = []
    finals_c: list[str] = []
    for layer in range(spec.num_layers):
        outputs = []
        for direction in range(d):
            end = f"_l{layer}" + ("_reverse" if direction else "")
            tag = f"l{layer}d{direction}"
            w = weight(f"Wt_{tag}", params["weight_ih" + end].t())  # (I, 4H) i,f,g,o
            r = weight(f"Rt_{tag}", params["weight_hh" + end].t())  # (P, 4H)
            hr = weight(f"Hrt_{tag}", params["weight_hr" + end].t())  # (H, P)
            bias = None
            if spec.bias:
                bias = weight(f"b_{tag}", params["bias_ih" + end] + params["bias_hh" + end])
            index = ints(f"index_{tag}", layer * d + direction)
            nodes.append(helper.make_node("Gather", ["h0", index], [f"h0_{tag}"], axis=0))
            nodes.append(helper.make_node("Gather", ["c0", index], [f"c0_{tag}"], axis=0))
            body = _step_body(helper, float_type, tag, w, r, hr, bias, quarters, proj, size)
            nodes.append(
                helper.make_node(
                    "Scan",
                    [f"h0_{tag}", f"c0_{tag}", x],
                    [f"hn_{tag}", f"cn_{tag}", f"Y_{tag}"],
                    body=body,
                    num_scan_inputs=1,
                    scan_input_directions=[direction],
                    scan_output_directions=[direction],
                )
            )
            outputs.append(f"Y_{tag}")
            for final, into in ((f"hn_{tag}", finals_h), (f"cn_{tag}", finals_c)):
                nodes.append(
                    helper.make_node(
                        "Unsqueeze", [final, ints(f"axis_{final}", [0])], [f"{final}_1"]
                    )
                )
                into.append(f"{final}_1")
        if d == 2:
            nodes.append(helper.make_node("Concat", outputs, [f"X_l{layer + 1}"], axis=2))
        else:
            nodes.append(helper.make_node("Identity", outputs, [f"X_l{layer + 1}"]))
        x = f"X_l{layer + 1}"
    out_dims = ["N", "L", d * proj] if spec.batch_first else ["L", "N", d * proj]
    perm = [1, 0, 2]
    if spec.batch_first:
        nodes.append(helper.make_node("Transpose", [x], ["output"], perm=perm))
    else:
        nodes.append(helper.make_node("Identity", [x], ["output"]))
    nodes.append(helper.make_node("Concat", finals_h, ["h_n"], axis=0))
    nodes.append(helper.make_node("Concat", finals_c, ["c_n"], axis=0))
    graph_outputs = {
        "output": out_dims,
        "h_n": [spec.num_layers * d, "N", proj],
        "c_n": [spec.num_layers * d, "N", size],
    }
    return _model(spec, nodes, inputs, graph_outputs, initializers, opset)


def _model(
    spec: RNNSpec,
    nodes: list[Any],
    inputs: Mapping[str, list[Any]],
    outputs: Mapping[str, list[Any]],
    initializers: list[Any],
    opset: int,
) -> Any:
    """The graph's nodes as a checked model: every input and output float32 (``lengths``
    int32), L and N symbolic in their dimensions."""
    onnx = _onnx()
    helper = onnx.helper

    def value(name: str, dims: list[Any]) -> Any:
        kind = onnx.TensorProto.INT32 if name == "lengths" else onnx.TensorProto.FLOAT
        return helper.make_tensor_value_info(name, kind, dims)

    graph = helper.make_graph(
        nodes,
        spec.cell.torch_name,
        [value(name, dims) for name, dims in inputs.items()],
        [value(name, dims) for name, dims in outputs.items()],
        initializers,
    )
    imports = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph,
        opset_imports=imports,
        ir_version=max(7, helper.find_min_ir_version_for(imports)),
        producer_name="rnninspect",
        doc_string=f"{spec.to_spec_string()}, written by rnninspect convert --to onnx",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _step_body(
    helper: Any,
    float_type: int,
    tag: str,
    w: str,
    r: str,
    hr: str,
    bias: str | None,
    quarters: str,
    proj: int,
    size: int,
) -> Any:
    """One step of a projected LSTM, as a Scan body: (h, c, x_t) -> (h', c', h')."""
    n = helper.make_node
    steps = [
        n("MatMul", ["x_t", w], ["wx"]),
        n("MatMul", ["h", r], ["rh"]),
        n("Add", ["wx", "rh"], ["sum"]),
    ]
    gates = "sum"
    if bias is not None:
        steps.append(n("Add", ["sum", bias], ["gates"]))
        gates = "gates"
    steps += [
        n("Split", [gates, quarters], ["i_", "f_", "g_", "o_"], axis=1),
        n("Sigmoid", ["i_"], ["i"]),
        n("Sigmoid", ["f_"], ["f"]),
        n("Tanh", ["g_"], ["g"]),
        n("Sigmoid", ["o_"], ["o"]),
        n("Mul", ["f", "c"], ["fc"]),
        n("Mul", ["i", "g"], ["ig"]),
        n("Add", ["fc", "ig"], ["c_next"]),
        n("Tanh", ["c_next"], ["tc"]),
        n("Mul", ["o", "tc"], ["h_full"]),
        n("MatMul", ["h_full", hr], ["h_next"]),
        n("Identity", ["h_next"], ["y"]),
    ]
    return helper.make_graph(
        steps,
        f"step_{tag}",
        [
            helper.make_tensor_value_info("h", float_type, ["N", proj]),
            helper.make_tensor_value_info("c", float_type, ["N", size]),
            helper.make_tensor_value_info("x_t", float_type, ["N", None]),
        ],
        [
            helper.make_tensor_value_info("h_next", float_type, ["N", proj]),
            helper.make_tensor_value_info("c_next", float_type, ["N", size]),
            helper.make_tensor_value_info("y", float_type, ["N", proj]),
        ],
    )
