"""ONNX files with recurrent operators: one node made into a model, the recurrent nodes of a
user's file read (attributes and stored weights), and a node extracted as a model of its own.

``onnx`` is imported only here and only when a function is called (``rnninspect[onnx]``).
Arrays are numpy's, as onnx has them; the reference converts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnninspect.base.errors import SpecError
from rnninspect.model.operator import RecurrentOp, op_from_attributes

#: The operator's inputs and outputs in their positions.
INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
OUTPUTS = ("Y", "Y_h", "Y_c")
#: Those that the node's weights are; the rest are data, fed at each run.
WEIGHTS = ("W", "R", "B", "P")
DATA = ("X", "sequence_lens", "initial_h", "initial_c")

INSTALL = "pip install 'rnninspect[onnx]'"


def _onnx() -> Any:
    from rnninspect.base.signals import interrupt_ends_at_once

    try:
        with interrupt_ends_at_once():  # a KeyboardInterrupt cannot unwind through pybind11
            import onnx
    except ImportError:
        from rnninspect.base.errors import RuntimeUnavailable

        raise RuntimeUnavailable(
            f"reading and writing ONNX needs the onnx package: {INSTALL}"
        ) from None
    return onnx


def _tensor_type(dtype: np.dtype[Any]) -> int:
    onnx = _onnx()
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def data_shape(node: RecurrentOp, name: str, input_size: int | None = None) -> list[int | str]:
    """The shape of a data input or an output, with ``L`` and ``N`` left symbolic."""
    d, h = node.num_directions, node.hidden_size
    first = node.layout == 1
    shapes: dict[str, list[int | str]] = {
        "X": ["N", "L", input_size or "I"] if first else ["L", "N", input_size or "I"],
        "sequence_lens": ["N"],
        "initial_h": ["N", d, h] if first else [d, "N", h],
        "Y": ["N", "L", d, h] if first else ["L", d, "N", h],
    }
    shapes["initial_c"] = shapes["Y_h"] = shapes["Y_c"] = shapes["initial_h"]
    return shapes[name]


def node_model(
    node: RecurrentOp,
    *,
    opset: int,
    input_size: int,
    weights: Mapping[str, np.ndarray],
    data: Sequence[str],
    outputs: Sequence[str],
    dtype: Any = np.float32,
) -> Any:
    """A model of one node: ``weights`` (W, R and any of B, P) stored as initializers, the
    ``data`` inputs (X and any of sequence_lens, initial_h, initial_c) as graph inputs with L
    and N symbolic, and the ``outputs`` asked for (the others left empty, as a file omits
    them). The attributes are written where they differ from their defaults, as exporters
    write them, and the IR version is the lowest that the opset allows (4 at least)."""
    onnx = _onnx()
    helper = onnx.helper
    present = set(weights) | set(data)
    names = [name if name in present else "" for name in INPUTS]
    while names and not names[-1]:
        names.pop()
    out_names = [name if name in outputs else "" for name in OUTPUTS]
    while out_names and not out_names[-1]:
        out_names.pop()
    attributes: dict[str, Any] = {"hidden_size": node.hidden_size}
    if node.direction != "forward":
        attributes["direction"] = node.direction
    if node.activations is not None:
        attributes["activations"] = list(node.activations)
    if node.activation_alpha:
        attributes["activation_alpha"] = list(node.activation_alpha)
    if node.activation_beta:
        attributes["activation_beta"] = list(node.activation_beta)
    if node.clip is not None:
        attributes["clip"] = node.clip
    if node.input_forget:
        attributes["input_forget"] = 1
    if node.linear_before_reset:
        attributes["linear_before_reset"] = 1
    if node.layout:
        attributes["layout"] = 1
    recurrent = helper.make_node(node.op, names, out_names, name=node.op.lower(), **attributes)
    float_type = _tensor_type(np.dtype(dtype))
    graph_inputs = [
        helper.make_tensor_value_info(
            name,
            onnx.TensorProto.INT32 if name == "sequence_lens" else float_type,
            data_shape(node, name, input_size),
        )
        for name in INPUTS
        if name in data
    ]
    graph_outputs = [
        helper.make_tensor_value_info(name, float_type, data_shape(node, name))
        for name in OUTPUTS
        if name in outputs
    ]
    initializers = [
        onnx.numpy_helper.from_array(np.asarray(weights[name], dtype=dtype), name)
        for name in INPUTS
        if name in weights
    ]
    graph = helper.make_graph(
        [recurrent], node.op.lower(), graph_inputs, graph_outputs, initializers
    )
    imports = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph,
        opset_imports=imports,
        # IR 4 is the first where initializers need not be graph inputs too
        ir_version=max(4, helper.find_min_ir_version_for(imports)),
        producer_name="rnninspect",
    )
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- the recurrent nodes of a file


@dataclass
class FoundNode:
    """A recurrent node of a user's file: where it is, what it says, and its stored weights.

    ``problem`` says why it cannot be checked on its own (an attribute rnninspect cannot read,
    weights computed by the graph); ``weights`` holds W, R and any B, P read from the file."""

    index: int
    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    operator: RecurrentOp | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    problem: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"#{self.index} {self.op}"

    def given(self, position: str) -> str | None:
        """The tensor name at one of the operator's positions (``"B"``), None where empty."""
        index = INPUTS.index(position) if position in INPUTS else None
        names = self.inputs if index is not None else self.outputs
        index = INPUTS.index(position) if index is not None else OUTPUTS.index(position)
        return names[index] if index < len(names) and names[index] else None


def read_model(path: str | Path) -> Any:
    """The file, its external data (``FILE.data`` beside it) found from its folder."""
    onnx = _onnx()
    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise SpecError(f"--onnx {path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"--onnx {path}: is a folder, not an ONNX file") from None
    except PermissionError:
        raise SpecError(f"--onnx {path}: cannot read it: permission denied") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"--onnx {path}: not a readable ONNX model ({first})") from None


def opset_of(model: Any) -> int:
    """The default domain's opset the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def recurrent_nodes(model: Any) -> list[FoundNode]:
    """Every LSTM, GRU and RNN node of the main graph, with its attributes read and its
    weights taken from initializers or Constant nodes; one whose weights are computed is said."""
    onnx = _onnx()
    constants: dict[str, np.ndarray] = {
        init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer
    }
    producers: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            value = _constant_value(node)
            if value is not None:
                constants[node.output[0]] = value
        for out in node.output:
            producers.setdefault(out, f"{node.op_type} node {node.name or out!r}")
    graph_inputs = {value.name for value in model.graph.input}
    found = []
    for index, node in enumerate(model.graph.node):
        if node.op_type not in ("LSTM", "GRU", "RNN") or node.domain not in ("", "ai.onnx"):
            continue
        entry = FoundNode(index, node.name, node.op_type, list(node.input), list(node.output))
        try:
            attributes = {
                attr.name: _decoded(onnx.helper.get_attribute_value(attr))
                for attr in node.attribute
            }
            entry.operator = op_from_attributes(node.op_type, attributes)
        except SpecError as exc:
            entry.problem = str(exc)
        for position in WEIGHTS:
            name = entry.given(position)
            if name is None:
                continue
            if name in constants and name not in graph_inputs - {
                i.name for i in model.graph.initializer
            }:
                entry.weights[position] = constants[name]
            elif entry.problem is None:
                source = producers.get(name, "a graph input" if name in graph_inputs else "nothing")
                entry.problem = (
                    f"its {position} ({name!r}) is computed by {source}, not stored: rnninspect "
                    "checks the weights a file holds and does not guess others"
                )
        found.append(entry)
    return found


def _constant_value(node: Any) -> np.ndarray | None:
    onnx = _onnx()
    for attr in node.attribute:
        if attr.name == "value":
            value: np.ndarray = onnx.numpy_helper.to_array(attr.t)
            return value
    return None


def _decoded(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def extracted(model: Any, found: FoundNode) -> Any:
    """``found`` as a model of its own: its stored weights as initializers, its data inputs as
    graph inputs (L and N symbolic) and its outputs as the file has them."""
    assert found.operator is not None
    w = found.weights["W"]
    data = [position for position in DATA if found.given(position) is not None]
    outputs = [position for position in OUTPUTS if found.given(position) is not None]
    return node_model(
        found.operator,
        opset=max(opset_of(model), 7),
        input_size=int(w.shape[-1]),
        weights=found.weights,
        data=data,
        outputs=outputs,
        dtype=w.dtype,
    )


def serialized(model: Any) -> bytes:
    return bytes(model.SerializeToString())


def tensor_bytes(array: np.ndarray, name: str) -> bytes:
    """One tensor as a ``TensorProto`` file, as ONNX's backend tests store their data."""
    onnx = _onnx()
    return bytes(onnx.numpy_helper.from_array(array, name).SerializeToString())
