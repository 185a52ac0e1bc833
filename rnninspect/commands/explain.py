"""``rnninspect explain``: the equations with this configuration's sizes, the unrolled network,
and the relations between output and the final state, each checked on the real module.

The equations and the diagram are text made from the spec; the relations are measured: the real
module runs on the seeded example input, and each relation is the largest absolute difference
between two slices of what it returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec
from rnninspect.reports.explain import ExplainReport

#: A relation holds when the two sides differ by at most this much (they should be the same
#: numbers, copied by torch).
HOLDS_WITHIN = 1e-6


# ---------------------------------------------------------------------------------------------
# Equations


def equations(spec: RNNSpec) -> list[str]:
    """The cell's equations with this configuration's sizes, and which rows of which parameter
    hold each block."""
    h, d_in, out = spec.hidden_size, spec.input_size, spec.out_size
    tag = "" if spec.cell.is_cell else "_l0"
    ih, hh = f"weight_ih{tag}", f"weight_hh{tag}"
    bias = spec.bias
    lines = [
        f"x: the input at one step ({d_in}); h: the previous hidden state ({out})"
        + ("; c: the previous cell state" + f" ({h})" if spec.has_cell_state else "")
    ]

    def gate(symbol: str, index: int, act: str, hidden_term: str = "") -> str:
        rows = f"[{index * h}:{(index + 1) * h}]"
        input_term = f"W_i{symbol} x" + (f" + b_i{symbol}" if bias else "")
        hidden_term = hidden_term or f"W_h{symbol} h" + (f" + b_h{symbol}" if bias else "")
        where = f"W_i{symbol} = {ih}{rows} ({h}x{d_in}), W_h{symbol} = {hh}{rows} ({h}x{out})"
        return f"{symbol} = {act}({input_term} + {hidden_term})    {where}"

    family = spec.cell.family
    if family == "rnn":
        terms = "W_ih x + b_ih + W_hh h + b_hh" if bias else "W_ih x + W_hh h"
        where = f"W_ih = {ih} ({h}x{d_in}), W_hh = {hh} ({h}x{out})"
        lines.append(f"h' = {spec.nonlinearity}({terms})    {where}")
    elif family == "lstm":
        lines += [
            gate("i", 0, "sigmoid"),
            gate("f", 1, "sigmoid"),
            gate("g", 2, "tanh"),
            gate("o", 3, "sigmoid"),
            f"c' = f * c + i * g    none: element by element, {h} units",
            f"h' = o * tanh(c')    none: element by element, {h} units",
        ]
        if spec.proj_size:
            lines.append(
                f"h' = W_hr h'    W_hr = weight_hr{tag} ({out}x{h}): h is projected to {out}"
            )
    else:
        reset = "r * (W_hn h + b_hn)" if bias else "r * (W_hn h)"
        lines += [
            gate("r", 0, "sigmoid"),
            gate("z", 1, "sigmoid"),
            gate("n", 2, "tanh", hidden_term=reset),
            f"h' = (1 - z) * n + z * h    none: element by element, {h} units",
            "the reset gate r scales W_hn h + b_hn, the hidden product with its bias, "
            "not h before the product",
        ]
    if not spec.cell.is_cell and (spec.num_layers > 1 or spec.bidirectional):
        lines.append(
            "the same equations run for every layer and direction, with that layer's weights "
            f"({ih.replace('_l0', '_l<layer>[_reverse]')}); layers above 0 read the layer "
            f"below's output ({spec.num_directions * out})"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Diagram


def diagram(spec: RNNSpec, max_steps: int = 8) -> list[str]:
    """The unrolled network: one row per layer and direction, top layer first, columns for time.

    ``o`` marks a cell whose output is in ``output`` (the top layer), ``h`` one whose state ends
    in ``h_n`` (each direction's last step), ``*`` both. Arrows give the order of computation.
    Past ``max_steps`` steps the middle is elided.
    """
    if spec.cell.is_cell:
        if spec.has_cell_state:
            return [
                "x ──→ [*] ──→ h1, c1    one step: the cell reads x, h0 and c0 and returns h1 "
                "and c1"
            ]
        return ["x ──→ [*] ──→ h1    one step: the cell reads x and h0 and returns h1"]
    steps = list(range(spec.seq_len))
    if len(steps) > max_steps:
        half = max_steps // 2
        steps = [*steps[:half], -1, *steps[-half:]]
    header = " " * 12 + "".join(f"{'···' if t < 0 else f't={t}':<7}" for t in steps)
    lines = [header.rstrip()]
    for layer in reversed(range(spec.num_layers)):
        for direction in (0, 1)[: spec.num_directions]:
            label = f"layer {layer} {'←' if direction else '→'}"
            cells = []
            for t in steps:
                if t < 0:
                    cells.append("···")
                    continue
                final = (t == spec.seq_len - 1) if direction == 0 else (t == 0)
                top = layer == spec.num_layers - 1
                mark = "*" if top and final else "o" if top else "h" if final else " "
                cells.append(f"[{mark}]")
            joint = "←──" if direction else "──→"
            row = f"{label:<12}"
            for i, cell in enumerate(cells):
                row += cell
                if i < len(cells) - 1:
                    elided = "···" in (cell, cells[i + 1])
                    row += "    " if elided else joint + " "
            lines.append(row.rstrip())
    lines.append("o: in output (the top layer)   h: in h_n (each direction's last step)   *: both")
    if spec.has_cell_state:
        lines.append("c_n holds the cell states of the h and * cells")
    if spec.bidirectional:
        lines.append(
            "→ reads from t=0 to the end; ← reads from the end back to t=0: its h_n is at t=0"
        )
    if spec.lengths is not None:
        lines.append("packed: each sequence i stops at its own length, so its h cells are at")
        lines.append("t = lengths[i] - 1 (→) and t = 0 (←)")
    return lines


# ---------------------------------------------------------------------------------------------
# Relations


@dataclass(frozen=True)
class Relation:
    """Two slices of the module's results and what was measured between them.

    ``expected`` says whether they must hold the same numbers: a relation that holds, or a
    pitfall, a pair learners take for equal that is not (``note`` says why).
    """

    lhs: str
    rhs: str
    holds: bool
    max_abs_err: float
    expected: bool = True
    note: str = ""

    @property
    def as_expected(self) -> bool:
        return self.holds == self.expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "lhs": self.lhs,
            "rhs": self.rhs,
            "holds": self.holds,
            "max_abs_err": self.max_abs_err,
            "expected": self.expected,
            "note": self.note,
        }


#: A relation to measure: lhs, rhs, whether they must be equal, and why (for a pitfall).
Pair = tuple[str, str, bool, str]


def relation_pairs(spec: RNNSpec) -> list[Pair]:
    """The relations between output and the final state, as Python indexing of the results:
    those that hold, then the pitfalls that do not."""
    if spec.cell.is_cell:
        return []
    out = spec.out_size
    two = spec.bidirectional
    top = spec.num_layers * spec.num_directions  # h_n rows of the top layer end here
    forward_row = top - 2 if two else top - 1
    fwd = f":{out}" if two else ""

    def output(step: str, sample: str = "", half: str = "") -> str:
        parts = []
        if spec.batch_first and not spec.unbatched:
            parts = [sample or ":", step]
        else:
            parts = [step] + ([] if spec.unbatched else [sample or ":"])
        if half:
            parts.append(half)
        return "output[" + ", ".join(parts) + "]"

    def h_n(row: int, sample: str = "") -> str:
        return f"h_n[{row}" + (f", {sample}" if sample else "") + "]"

    pairs: list[Pair] = []
    if spec.lengths is None:
        pairs.append((output("-1", half=fwd), h_n(forward_row), True, ""))
        if two:
            pairs.append((output("0", half=f"{out}:"), h_n(top - 1), True, ""))
    else:
        for i, length in enumerate(spec.lengths):
            pairs.append((output(str(length - 1), str(i), fwd), h_n(forward_row, str(i)), True, ""))
            if two:
                pairs.append((output("0", str(i), f"{out}:"), h_n(top - 1, str(i)), True, ""))
    return pairs + _pitfalls(spec, output, h_n)


def _pitfalls(spec: RNNSpec, output: Any, h_n: Any) -> list[Pair]:
    """Pairs learners take for equal, where they are not."""
    if spec.lengths is not None or spec.seq_len < 2:
        return []
    out, top = spec.out_size, spec.num_layers * spec.num_directions
    pitfalls: list[Pair] = []
    if spec.bidirectional:
        pitfalls.append(
            (
                output("-1", half=f"{out}:"),
                h_n(top - 1),
                False,
                f"the reverse direction reads from the end back to t=0: at the last step its "
                f"output is its first step; its final state is {output('0', half=f'{out}:')}",
            )
        )
    if spec.num_layers > 1:
        pitfalls.append(
            (
                output("-1", half=f":{out}" if spec.bidirectional else ""),
                h_n(0),
                False,
                "h_n[0] is layer 0, the bottom of the stack; the top layer's rows of h_n come "
                "last, and only the top layer is in output",
            )
        )
    return pitfalls


def h_n_rows(spec: RNNSpec) -> list[str]:
    """Which layer and direction each row of h_n (and c_n) holds, in torch's order."""
    if spec.cell.is_cell:
        return []
    rows = []
    for row in range(spec.num_layers * spec.num_directions):
        layer, direction = divmod(row, spec.num_directions)
        side = " reverse" if direction else (" forward" if spec.bidirectional else "")
        rows.append(f"h_n[{row}]: layer {layer}{side}")
    return rows


def index(text: str) -> tuple[str, tuple[int | slice, ...]]:
    """``output[-1, :, :20]`` as the name and the index tuple it applies."""
    import ast

    node = ast.parse(text, mode="eval").body
    if not isinstance(node, ast.Subscript) or not isinstance(node.value, ast.Name):
        raise ValueError(f"not a subscript of a name: {text!r}")
    items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    parts: list[int | slice] = []
    for item in items:
        if isinstance(item, ast.Slice):
            bounds = [None if b is None else ast.literal_eval(b) for b in (item.lower, item.upper)]
            parts.append(slice(bounds[0], bounds[1]))
        else:
            parts.append(int(ast.literal_eval(item)))
    return node.value.id, tuple(parts)


def check(
    lhs: str, rhs: str, results: dict[str, Any], expected: bool = True, note: str = ""
) -> Relation:
    """Measure one relation on the module's results."""
    left_name, left = index(lhs)
    right_name, right = index(rhs)
    a = results[left_name][left].detach().double()
    b = results[right_name][right].detach().double()
    error = float((a - b).abs().max()) if a.shape == b.shape else float("inf")
    return Relation(lhs, rhs, error <= HOLDS_WITHIN, error, expected, note)


def batch_first_note(spec: RNNSpec) -> str | None:
    """What batch_first changes and what it does not."""
    if spec.cell.is_cell:
        return None
    if spec.unbatched:
        return "Unbatched input has no batch dimension, so batch_first changes nothing here."
    now = "is True" if spec.batch_first else "is False"
    states = "h0, c0, h_n and c_n" if spec.has_cell_state else "h0 and h_n"
    return (
        f"batch_first {now}: it changes input and output between (L, N, ...) and (N, L, ...); "
        f"{states} keep (D*num_layers, N, H) either way: the batch is never first in "
        "the states."
    )


def explain_module(spec: RNNSpec) -> ExplainReport:
    """The equations, shapes and unrolled network of a spec, with every relation between output
    and the final state checked on the real module."""
    import sys

    import torch

    from rnninspect.commands.shapes import inspect_shapes
    from rnninspect.core.build import example_inputs, run_module, torch_module, torch_warnings

    text = sys.modules[__name__]  # this module's functions, as the explanation's parts
    needed = memory.estimate(spec).shapes  # before anything runs, even on the meta device
    memory.check(needed, memory.default_limit(), f"nn.{spec.cell.torch_name} with these sizes")
    shapes = inspect_shapes(spec)
    with torch_warnings(), torch.no_grad():
        module = torch_module(spec)
        results = run_module(module, spec, example_inputs(spec))
    relations = [text.check(*pair[:2], results, *pair[2:]) for pair in text.relation_pairs(spec)]
    notes = [note for note in (text.batch_first_note(spec),) if note]
    diagram = text.diagram(spec)
    narrower = [text.diagram(spec, max_steps=steps) for steps in (6, 4, 2)]
    return ExplainReport(
        shapes, text.equations(spec), diagram, relations, notes, text.h_n_rows(spec), narrower
    )
