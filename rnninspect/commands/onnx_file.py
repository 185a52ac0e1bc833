"""``rnninspect verify --onnx FILE`` without ``--weights``: any ONNX file's LSTM, GRU and RNN
nodes checked against the ONNX equations, with the weights the file holds.

Each node runs twice in each runtime, at every shape, on seeded random inputs and states:

* **alone**: extracted as a one-node model (its stored W, R, B, P as initializers, L and N
  symbolic), fed X and whichever of ``sequence_lens``, ``initial_h``, ``initial_c`` the node
  takes in the file;
* **in the graph**: the whole file run as it is, with every recurrent node's inputs and outputs
  made graph outputs too, so each node is judged on the inputs it was actually given there
  (after the file's Transposes, Slices and earlier layers). The graph's inputs must be sized:
  their L and N dimensions are found where they reach a recurrent node's X or state (through
  Transposes); an input that cannot be sized, or is not a float or a length, is said and the
  graph is not run.

A node whose weights the graph computes (a DequantizeLinear, a graph input) is ``unchecked``,
with the reason; nothing is guessed. Each runtime runs in a process of its own, so a runtime
that crashes fails the run instead of ending rnninspect.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from rnninspect import __version__
from rnninspect.base.errors import SpecError
from rnninspect.commands.conformance import numbers
from rnninspect.commands.conformance.workers import forked
from rnninspect.core.onnx_runtimes import OperatorRuntime, Refused, require, runtime
from rnninspect.core.parity import Tolerance, default_tolerance, given_tolerance
from rnninspect.files.onnx_model import (
    DATA,
    OUTPUTS,
    FoundNode,
    extracted,
    opset_of,
    read_model,
    recurrent_nodes,
    serialized,
)
from rnninspect.reports.conformance import OutputRow
from rnninspect.reports.onnx_file import Check, NodeResult, OnnxFileReport, RuntimeNodes

#: Seconds one runtime may take over the whole file.
RUNTIME_TIMEOUT = 600.0
#: ONNX's element types that rnninspect feeds with random floats, and those it feeds lengths.
FLOATS = {1: np.float32, 10: np.float16, 11: np.float64}
INTEGERS = {6: np.int32, 7: np.int64}


def check_file(
    path: str,
    runtimes: Sequence[str] = ("onnxruntime",),
    shapes: Sequence[tuple[int, int]] = ((5, 3), (8, 4), (1, 1)),
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
) -> OnnxFileReport:
    """Every recurrent node of ``path`` in every runtime, at every (L, N) of ``shapes``."""
    for name in runtimes:
        require(name)
    model = read_model(path)
    nodes = recurrent_nodes(model)
    if not nodes:
        raise SpecError(
            f"--onnx {path}: the graph has no LSTM, GRU or RNN node; verify --onnx without "
            "--weights checks ONNX's recurrent operators"
        )
    results = []
    for name in runtimes:
        chosen = runtime(name)
        work = functools.partial(_in_runtime, model, nodes, chosen, shapes, seed, atol, rtol)
        found, crash = forked(work, RUNTIME_TIMEOUT)
        if found is None:
            crashed = Check(crash=crash)
            found = RuntimeNodes(
                chosen.name,
                chosen.version,
                tuple(_header(node, alone=crashed) for node in nodes),
                graph_not_run=f"the runtime's process ended: {crash}",
            )
        results.append(found)
    notes = [
        f"inputs and initial states are seeded random numbers (seed {seed}); the weights are "
        "the file's own",
    ]
    return OnnxFileReport(
        file=str(path),
        opset=opset_of(model),
        versions={"rnninspect": __version__, "torch": torch.__version__},
        shapes=tuple(shapes),
        seed=seed,
        runtimes=tuple(results),
        notes=tuple(notes),
    )


def _in_runtime(
    model: Any,
    nodes: Sequence[FoundNode],
    chosen: OperatorRuntime,
    shapes: Sequence[tuple[int, int]],
    seed: int,
    atol: float | None,
    rtol: float | None,
) -> RuntimeNodes:
    """The fork's work: every node alone, then the whole graph."""
    alone = {
        node.index: _alone(model, node, chosen, shapes, seed, atol, rtol)
        for node in nodes
        if node.problem is None
    }
    graph_shapes, graph_inputs, why = _graph_plan(model, nodes, shapes)
    in_graph: dict[int, Check] = {}
    if why is None:
        in_graph = _in_graph(model, nodes, chosen, graph_shapes, graph_inputs, seed, atol, rtol)
    return RuntimeNodes(
        chosen.name,
        chosen.version,
        tuple(
            _header(node, alone=alone.get(node.index), in_graph=in_graph.get(node.index))
            for node in nodes
        ),
        graph_shapes=tuple(graph_shapes) if why is None else (),
        graph_not_run=why,
        graph_inputs={name: list(dims) for name, dims in graph_inputs.items()}
        if why is None
        else {},
    )


def _header(
    node: FoundNode, alone: Check | None = None, in_graph: Check | None = None
) -> NodeResult:
    described = node.operator.describe() if node.operator is not None else node.op
    return NodeResult(
        node=node.label,
        op=node.op,
        attributes=described,
        weights=tuple(
            (position, node.given(position) or "", tuple(value.shape))
            for position, value in node.weights.items()
        ),
        problem=node.problem,
        alone=alone if node.problem is None else None,
        in_graph=in_graph if node.problem is None else None,
    )


def _tolerance(dtype: np.dtype[Any], atol: float | None, rtol: float | None) -> Tolerance:
    torch_dtype = torch.from_numpy(np.zeros(0, dtype)).dtype
    return given_tolerance(default_tolerance(torch_dtype), atol, rtol)


def _judged(
    node: FoundNode,
    arrays: Mapping[str, np.ndarray],
    found: Mapping[str, np.ndarray | None],
    shape: tuple[int, int],
    tolerance: Tolerance,
) -> list[OutputRow]:
    """The node's outputs that the file uses, against the reference on ``arrays``."""
    assert node.operator is not None
    dtype = node.weights["W"].dtype
    names = [position for position in OUTPUTS if node.given(position) is not None]
    low = torch.float64 if dtype == np.float64 else torch.from_numpy(np.zeros(0, dtype)).dtype
    want = numbers.Expected(
        numbers.node_reference(node.operator, arrays, names),
        numbers.node_reference(node.operator, arrays, names, low),
    )
    return [
        numbers.judge(
            name,
            found.get(name),
            want,
            shape,
            tolerance,
            axes=node.operator.axes(name),
            dtype=np.dtype(dtype),
        )
        for name in names
    ]


# ------------------------------------------------------------------------------ alone


def _alone(
    model: Any,
    node: FoundNode,
    chosen: OperatorRuntime,
    shapes: Sequence[tuple[int, int]],
    seed: int,
    atol: float | None,
    rtol: float | None,
) -> Check:
    assert node.operator is not None
    op, w = node.operator, node.weights["W"]
    one = extracted(model, node)
    outputs = [position for position in OUTPUTS if node.given(position) is not None]
    try:
        run = chosen.load(serialized(one), outputs)
    except Refused as refused:
        return Check(refusal=str(refused))
    tolerance = _tolerance(w.dtype, atol, rtol)
    rows: list[OutputRow] = []
    d, h, size = op.num_directions, op.hidden_size, int(w.shape[-1])
    for steps, batch in shapes:
        rng = numbers.generator(seed, node.index, steps, batch)
        x_shape = (batch, steps, size) if op.layout else (steps, batch, size)
        state = (batch, d, h) if op.layout else (d, batch, h)
        feeds: dict[str, np.ndarray] = {"X": rng.standard_normal(x_shape).astype(w.dtype)}
        if node.given("sequence_lens") is not None:
            feeds["sequence_lens"] = numbers.lengths(rng, steps, batch).astype(np.int32)
        for position in ("initial_h", "initial_c"):
            if node.given(position) is not None:
                feeds[position] = rng.standard_normal(state).astype(w.dtype)
        try:
            found = run(feeds)
        except Refused as refused:
            return Check(rows=tuple(rows), refusal=f"at L={steps} N={batch}, {refused}")
        rows += _judged(node, {**node.weights, **feeds}, found, (steps, batch), tolerance)
    return Check(rows=tuple(rows))


# ------------------------------------------------------------------------------ in the graph


def _graph_plan(
    model: Any, nodes: Sequence[FoundNode], shapes: Sequence[tuple[int, int]]
) -> tuple[list[tuple[int, int]], dict[str, tuple[int | str, ...]], str | None]:
    """The shapes the whole graph can run at, each input's dimensions (``L``, ``N`` or a
    number), or why the graph cannot be run on made-up inputs."""
    if any(node.problem is not None for node in nodes):
        return [], {}, "a recurrent node cannot be checked (see its row)"
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    roles = _roles(model, nodes)
    # a symbol met as L or N where an input reaches a node means that everywhere
    symbols: dict[str, str] = {}
    for value in inputs:
        role = roles.get(value.name, ())
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis < len(role) and role[axis] in ("L", "N") and dim.dim_param:
                symbols.setdefault(dim.dim_param, role[axis])
    fixed: dict[str, int] = {}
    dims_of: dict[str, tuple[int | str, ...]] = {}
    for value in inputs:
        if not value.type.HasField("tensor_type"):
            return [], {}, f"graph input {value.name!r} is not a tensor"
        kind = value.type.tensor_type
        role = roles.get(value.name, ())
        if kind.elem_type not in FLOATS and not (kind.elem_type in INTEGERS and role == ("N",)):
            return (
                [],
                {},
                (
                    f"graph input {value.name!r} is not a float tensor or a node's sequence_lens, "
                    "so rnninspect does not know what values it takes"
                ),
            )
        dims: list[int | str] = []
        for axis, dim in enumerate(kind.shape.dim):
            label = role[axis] if axis < len(role) else symbols.get(dim.dim_param)
            if label in ("L", "N"):
                held = fixed.setdefault(label, dim.dim_value) if dim.HasField("dim_value") else None
                if held is not None and held != dim.dim_value:
                    return [], {}, f"graph input {value.name!r} fixes {label} otherwise"
                dims.append(label)
            elif dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            else:
                named = dim.dim_param or "unnamed"
                return (
                    [],
                    {},
                    (
                        f"graph input {value.name!r} has a dimension ({axis}: {named}) that does "
                        "not reach a recurrent node as L or N, so rnninspect cannot size it"
                    ),
                )
        dims_of[value.name] = tuple(dims)
    planned = []
    for steps, batch in shapes:
        shape = (fixed.get("L", steps), fixed.get("N", batch))
        if shape not in planned:
            planned.append(shape)
    return planned, dims_of, None


def _roles(model: Any, nodes: Sequence[FoundNode]) -> dict[str, tuple[str, ...]]:
    """For each tensor that reaches a recurrent node's X, state or lengths, what its axes are
    (``L``, ``N``, ``I``, ``D``, ``H``), followed back through Transposes, Identities and
    Casts to where it came from."""
    producers = {out: node for node in model.graph.node for out in node.output}
    roles: dict[str, tuple[str, ...]] = {}
    for found in nodes:
        op = found.operator
        if op is None:
            continue
        axes = {
            "X": ("N", "L", "I") if op.layout else ("L", "N", "I"),
            "initial_h": ("N", "D", "H") if op.layout else ("D", "N", "H"),
            "sequence_lens": ("N",),
        }
        axes["initial_c"] = axes["initial_h"]
        for position in DATA:
            name, labels = found.given(position), axes[position]
            while name is not None:
                roles.setdefault(name, labels)
                producer = producers.get(name)
                if producer is None or producer.op_type not in ("Transpose", "Identity", "Cast"):
                    break
                if producer.op_type == "Transpose":
                    perm = next((list(a.ints) for a in producer.attribute if a.name == "perm"), [])
                    perm = perm or list(reversed(range(len(labels))))
                    unpermuted = [""] * len(labels)
                    for axis, source in enumerate(perm):
                        unpermuted[source] = labels[axis]
                    labels = tuple(unpermuted)
                name = producer.input[0]
    return roles


def _in_graph(
    model: Any,
    nodes: Sequence[FoundNode],
    chosen: OperatorRuntime,
    shapes: Sequence[tuple[int, int]],
    dims_of: Mapping[str, tuple[int | str, ...]],
    seed: int,
    atol: float | None,
    rtol: float | None,
) -> dict[int, Check]:
    """The whole file, its recurrent nodes' inputs and outputs captured as graph outputs."""
    import onnx

    inputs = {value.name: value.type.tensor_type.elem_type for value in model.graph.input}
    outputs = [value.name for value in model.graph.output]
    extra = []
    for node in nodes:
        float_type = onnx.helper.np_dtype_to_tensor_dtype(node.weights["W"].dtype)
        for position in (*DATA, *OUTPUTS):
            name = node.given(position)
            if name is None or name in outputs or name in inputs:
                continue
            elem = onnx.TensorProto.INT32 if position == "sequence_lens" else float_type
            extra.append(onnx.helper.make_tensor_value_info(name, elem, None))
            outputs.append(name)
    whole = onnx.ModelProto()
    whole.CopyFrom(model)
    whole.graph.output.extend(extra)
    try:
        run = chosen.load(serialized(whole), outputs)
    except Refused as refused:
        return {node.index: Check(refusal=str(refused)) for node in nodes}
    rows: dict[int, list[OutputRow]] = {node.index: [] for node in nodes}
    for steps, batch in shapes:
        rng = numbers.generator(seed, "graph", steps, batch)
        feeds = {}
        for name, dims in dims_of.items():
            shape = [steps if d == "L" else batch if d == "N" else int(d) for d in dims]
            elem = inputs[name]
            if elem in INTEGERS:
                feeds[name] = numbers.lengths(rng, steps, batch).astype(INTEGERS[elem])
            else:
                feeds[name] = rng.standard_normal(shape).astype(FLOATS[elem])
        try:
            found = run(feeds)
        except Refused as refused:
            # the graph loaded: what stops it at a shape is the file's (a length baked into a
            # Reshape, say), not a runtime declining an operator
            said = str(refused).removeprefix("failed to run: ")
            failed = f"the whole graph failed to run at L={steps} N={batch}: {said}"
            return {node.index: Check(rows=tuple(rows[node.index]), crash=failed) for node in nodes}
        values = {**feeds, **found}
        for node in nodes:
            assert node.operator is not None
            arrays = dict(node.weights)
            for position in DATA:
                name = node.given(position)
                if name is not None and name in values:
                    arrays[position] = values[name]
            produced = {
                position: values.get(name)
                for position in OUTPUTS
                if (name := node.given(position)) is not None
            }
            tolerance = _tolerance(node.weights["W"].dtype, atol, rtol)
            rows[node.index] += _judged(node, arrays, produced, (steps, batch), tolerance)
    return {index: Check(rows=tuple(found_rows)) for index, found_rows in rows.items()}
