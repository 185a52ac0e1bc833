"""The shape model: what torch will build and produce for a spec, by arithmetic alone.

No torch import: ``rnninspect shapes`` checks every number here against the real module, and the
memory estimate uses it before anything is allocated. Symbols follow torch's documentation:
L (sequence length), N (batch), D (2 if bidirectional else 1), H_in (input_size),
H_cell (hidden_size), H_out (proj_size if > 0 else hidden_size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnninspect.model.spec import RNNSpec


@dataclass(frozen=True)
class Dim:
    """One dimension of a tensor: its size, its symbol, and what it counts."""

    size: int
    symbol: str
    meaning: str


@dataclass(frozen=True)
class TensorShape:
    """A named tensor (``input``, ``h0``, ``output``, ...) and its dimensions."""

    name: str
    dims: tuple[Dim, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(dim.size for dim in self.dims)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ParameterShape:
    """One parameter as torch names it, with the layer and direction it belongs to."""

    name: str
    shape: tuple[int, ...]
    layer: int
    direction: str
    rows: str
    cols: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def tensor_shapes(spec: RNNSpec) -> list[TensorShape]:
    """The input, initial state, output and final state of one forward pass, in that order."""
    batch = () if spec.unbatched else (Dim(spec.batch, "N", "batch"),)
    h_in = Dim(spec.input_size, "H_in", "input_size")
    h_cell = Dim(spec.hidden_size, "H_cell", "hidden_size")
    if spec.cell.is_cell:
        h = Dim(spec.hidden_size, "H_out", "hidden_size")
        tensors = [TensorShape("input", (*batch, h_in)), TensorShape("h0", (*batch, h))]
        if spec.has_cell_state:
            tensors.append(TensorShape("c0", (*batch, h_cell)))
        tensors.append(TensorShape("h1", (*batch, h)))
        if spec.has_cell_state:
            tensors.append(TensorShape("c1", (*batch, h_cell)))
        return tensors

    out_meaning = "proj_size" if spec.proj_size else "hidden_size"
    h_out = Dim(spec.out_size, "H_out", out_meaning)
    d_h_out = Dim(spec.num_directions * spec.out_size, "D*H_out", f"num_directions*{out_meaning}")
    stack = Dim(spec.num_layers * spec.num_directions, "D*num_layers", "num_layers*num_directions")
    time = (Dim(spec.seq_len, "L", "seq_len"),)
    sequence = (*batch, *time) if spec.batch_first else (*time, *batch)

    tensors = [TensorShape("input", (*sequence, h_in))]
    if spec.lengths is not None:
        steps = Dim(sum(spec.lengths), "sum(L_i)", "sum(lengths)")
        longest = Dim(max(spec.lengths), "max(L_i)", "max(lengths)")
        tensors.append(TensorShape("packed_input.data", (steps, h_in)))
        tensors.append(TensorShape("packed_input.batch_sizes", (longest,)))
    tensors.append(TensorShape("h0", (stack, *batch, h_out)))
    if spec.has_cell_state:
        tensors.append(TensorShape("c0", (stack, *batch, h_cell)))
    if spec.lengths is not None:
        tensors.append(TensorShape("packed_output.data", (steps, d_h_out)))
    tensors.append(TensorShape("output", (*sequence, d_h_out)))
    tensors.append(TensorShape("h_n", (stack, *batch, h_out)))
    if spec.has_cell_state:
        tensors.append(TensorShape("c_n", (stack, *batch, h_cell)))
    return tensors


def parameter_shapes(spec: RNNSpec) -> list[ParameterShape]:
    """Every parameter in torch's order: per layer, per direction, w_ih, w_hh, b_ih, b_hh, w_hr.

    ``rows`` and ``cols`` say what each axis holds: ``weight_ih_l0`` of an LSTM with hidden 20
    and input 10 is ``[80, 10]``, rows ``i,f,g,o x 20`` (four gate blocks of 20), cols ``input 10``.
    """
    gates = spec.cell.gate_names
    gate_rows = len(gates) * spec.hidden_size
    rows = (
        f"{','.join(gates)} × {spec.hidden_size}"
        if len(gates) > 1
        else f"hidden {spec.hidden_size}"
    )
    recurrent = f"proj {spec.out_size}" if spec.proj_size else f"hidden {spec.out_size}"
    suffixes = [("", "forward"), ("_reverse", "reverse")][: spec.num_directions]
    params: list[ParameterShape] = []
    layers = 1 if spec.cell.is_cell else spec.num_layers
    for layer in range(layers):
        if layer == 0:
            layer_input, cols = spec.input_size, f"input {spec.input_size}"
        else:
            layer_input = spec.num_directions * spec.out_size
            cols = f"layer {layer - 1} output {layer_input}"
        for suffix, direction in suffixes:
            tag = "" if spec.cell.is_cell else f"_l{layer}{suffix}"
            entries: list[tuple[str, tuple[int, ...], str, str]] = [
                ("weight_ih", (gate_rows, layer_input), rows, cols),
                ("weight_hh", (gate_rows, spec.out_size), rows, recurrent),
            ]
            if spec.bias:
                entries += [
                    ("bias_ih", (gate_rows,), rows, ""),
                    ("bias_hh", (gate_rows,), rows, ""),
                ]
            if spec.proj_size:
                entries.append(
                    (
                        "weight_hr",
                        (spec.proj_size, spec.hidden_size),
                        recurrent,
                        f"hidden {spec.hidden_size}",
                    )
                )
            params += [
                ParameterShape(name + tag, shape, layer, direction, row_text, col_text)
                for name, shape, row_text, col_text in entries
            ]
    return params


def total_params(spec: RNNSpec) -> int:
    return sum(param.numel for param in parameter_shapes(spec))


def direction_label(spec: RNNSpec, param: ParameterShape) -> str:
    """``layer 0``, ``layer 1 reverse`` or ``cell``: how the parameter table groups rows."""
    if spec.cell.is_cell:
        return "cell"
    label = f"layer {param.layer}"
    return f"{label} {param.direction}" if spec.bidirectional else label


@dataclass(frozen=True)
class FlopCount:
    """Work of one forward pass: multiply-adds of the matrix products, and element-wise ops.

    ``flops = 2 * macs + elementwise``: a multiply-add is two floating-point operations; each
    bias add, gate add, product, sigmoid and tanh counts one.
    """

    macs: int
    elementwise: int

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise


#: Element-wise operations per hidden unit and step, beyond the bias adds (docs/math.md).
_ELEMENTWISE = {"rnn": 2, "lstm": 13, "gru": 11}


def layer_steps(spec: RNNSpec) -> int:
    """Time steps times layers times directions: how often the cell runs in one forward pass."""
    return 1 if spec.cell.is_cell else spec.seq_len * spec.num_layers * spec.num_directions


def flop_count(spec: RNNSpec) -> FlopCount:
    """Multiply-adds and element-wise operations of one forward pass, counted per step.

    Per sample, step, layer and direction: ``G*H_cell*(H_in_layer + H_out)`` multiply-adds for
    the input and recurrent products, ``H_out*H_cell`` for an LSTM's projection, ``2*G*H_cell``
    bias adds when there is a bias, and the cell's element-wise work: RNN 2 per hidden unit
    (gate add, activation), LSTM 13 (gate adds 4, sigmoids 3, tanh 2, c' = f*c + i*g 3,
    o*tanh(c') 1), GRU 11 (r and z: adds 2, sigmoids 2; n: product, add, tanh 3;
    h' = (1 - z)*n + z*h: 4).
    """
    gates = len(spec.cell.gate_names)
    rows = gates * spec.hidden_size
    layers = 1 if spec.cell.is_cell else spec.num_layers
    macs = elementwise = 0
    for layer in range(layers):
        layer_input = spec.input_size if layer == 0 else spec.num_directions * spec.out_size
        per_step = rows * (layer_input + spec.out_size) + spec.proj_size * spec.hidden_size
        macs += spec.num_directions * per_step
        work = _ELEMENTWISE[spec.cell.family] * spec.hidden_size + (2 * rows if spec.bias else 0)
        elementwise += spec.num_directions * work
    return FlopCount(macs * spec.tokens, elementwise * spec.tokens)


def element_meaning(spec: RNNSpec, tensor: str, index: tuple[int, ...]) -> str:
    """What one element of a compared tensor is: ``gate f, unit 19`` for row 39 of an LSTM's
    ``bias_ih_l0`` with hidden 20; ``layer 1 reverse, sample 2, unit 5`` for a row of h_n.

    ``tensor`` is a parity row's name (``output``, ``h_n``, ``grad:weight_ih_l1``, ...). Empty
    where the index says nothing more than itself.
    """
    name = tensor.removeprefix("grad:")
    if name in ("input", "output"):
        return _sequence_element(spec, name, index)
    if name in ("h0", "c0", "h_n", "c_n", "h1", "c1"):
        return _state_element(spec, name, index)
    for param in parameter_shapes(spec):
        if param.name == name and len(index) == len(param.shape):
            return _parameter_element(spec, name, param, index)
    return ""


def _unit(spec: RNNSpec, row: int) -> str:
    """Gate and unit of a row of a gate-stacked weight or bias."""
    gate, unit = divmod(row, spec.hidden_size)
    if len(spec.cell.gate_names) == 1:
        return f"unit {unit}"
    return f"gate {spec.cell.gate_names[gate]}, unit {unit}"


def _parameter_element(
    spec: RNNSpec, name: str, param: ParameterShape, index: tuple[int, ...]
) -> str:
    row = index[0]
    if name.startswith("weight_hr"):
        return f"projected unit {row}, hidden unit {index[1]}"
    parts = [_unit(spec, row)]
    if len(index) == 2:
        col = index[1]
        if name.startswith("weight_hh"):
            parts.append(f"{'projected' if spec.proj_size else 'hidden'} unit {col} of h_t-1")
        elif param.layer == 0:
            parts.append(f"input feature {col}")
        else:
            direction, unit = divmod(col, spec.out_size)
            side = "reverse" if direction else "forward"
            below = f"layer {param.layer - 1}"
            parts.append(
                f"{below} {side} output {unit}" if spec.bidirectional else f"{below} output {unit}"
            )
    return "; ".join(parts)


def _state_element(spec: RNNSpec, name: str, index: tuple[int, ...]) -> str:
    if spec.cell.is_cell:
        sample = "" if spec.unbatched else f"sample {index[0]}, "
        return f"{sample}unit {index[-1]}"
    layer, direction = divmod(index[0], spec.num_directions)
    where = f"layer {layer}" + (
        f" {'reverse' if direction else 'forward'}" if spec.bidirectional else ""
    )
    sample = "" if spec.unbatched else f", sample {index[1]}"
    return f"{where}{sample}, unit {index[-1]}"


def _sequence_element(spec: RNNSpec, name: str, index: tuple[int, ...]) -> str:
    if spec.cell.is_cell:
        prefix = "" if spec.unbatched else f"sample {index[0]}, "
        return f"{prefix}{'feature' if name == 'input' else 'unit'} {index[-1]}"
    sample: int | None
    if spec.unbatched:
        step, sample = index[0], None
    elif spec.batch_first:
        sample, step = index[0], index[1]
    else:
        step, sample = index[0], index[1]
    parts = [f"step {step}"] + ([] if sample is None else [f"sample {sample}"])
    last = index[-1]
    if name == "input":
        parts.append(f"feature {last}")
    elif spec.bidirectional:
        direction, unit = divmod(last, spec.out_size)
        parts.append(f"{'reverse' if direction else 'forward'} unit {unit}")
    else:
        parts.append(f"unit {last}")
    return ", ".join(parts)
