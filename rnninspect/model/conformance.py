"""The conformance suite: which single-node models ``rnninspect conformance`` builds, and why.

Every case is one LSTM, GRU or RNN node with random weights (each gate block its own, so that a
wrong gate order shows), run at several lengths and batches. The suite covers:

- the grid: every direction x layout x bias x initial state x sequence_lens, for each operator;
- each attribute on its own and in the combinations where runtimes go wrong: clip (with
  sequence_lens, with peepholes, with input_forget), peepholes, input_forget,
  linear_before_reset, every activation in every slot with alpha and beta given and left to
  their defaults, different activations per direction, alpha and beta consumed in order;
- the optional outputs one by one, opsets 7 and 22 beside 14, and sizes of 1.

Each case knows its *twin* for every attribute it sets (:meth:`Case.without`): the same model
with that attribute at its default. The suite is built so that each case's outputs differ from
each twin's on the case's inputs (``tests/test_conformance.py`` checks every pair), so a runtime
that ignores an attribute cannot pass the cases that set it. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rnninspect.model.operator import ACTIVATIONS, DEFAULT_ACTIVATIONS, OPS, OpName, RecurrentOp

#: The (L, N) each case runs at: one step of one sequence, then longer and wider batches, L and
#: N different from each other and from the sizes, so that a transposed layout cannot pass.
SHAPES = ((1, 1), (5, 2), (7, 6))
INPUT_SIZE = 3
HIDDEN_SIZE = 4
#: Where the attribute is unset: for clip, no clip; for the rest, ONNX's defaults.
CLIP = 0.4
#: Given values of alpha and beta, away from every default, for the activations that take them.
GIVEN_PARAMETERS: dict[str, tuple[float | None, float | None]] = {
    "Affine": (0.8, 0.1),
    "LeakyRelu": (0.2, None),
    "ThresholdedRelu": (0.3, None),
    "ScaledTanh": (1.3, 0.7),
    "HardSigmoid": (0.3, 0.4),
    "Elu": (0.6, None),
}
SLOTS = {"LSTM": ("f", "g", "h"), "GRU": ("f", "g"), "RNN": ("f",)}


@dataclass(frozen=True)
class Case:
    """One single-node model and how it is fed."""

    name: str
    node: RecurrentOp
    opset: int = 14
    input_size: int = INPUT_SIZE
    bias: bool = True
    peepholes: bool = False  # LSTM's P
    initial_state: bool = True  # initial_h (and initial_c) given
    sequence_lens: bool = False
    outputs: tuple[str, ...] = ()  # () for all of the operator's
    #: weights are uniform in [-weight_scale, weight_scale]
    weight_scale: float = 0.7
    #: what the case sets, each with a twin (``without``)
    sets: tuple[str, ...] = ()

    @property
    def op(self) -> str:
        return self.node.op

    @property
    def output_names(self) -> tuple[str, ...]:
        every = ("Y", "Y_h", "Y_c") if self.op == "LSTM" else ("Y", "Y_h")
        return self.outputs or every

    @property
    def data(self) -> tuple[str, ...]:
        """The data inputs of its model, in the operator's order."""
        names = ["X"]
        if self.sequence_lens:
            names.append("sequence_lens")
        if self.initial_state:
            names += ["initial_h", "initial_c"] if self.op == "LSTM" else ["initial_h"]
        return tuple(names)

    @property
    def weights(self) -> tuple[str, ...]:
        return ("W", "R") + ("B",) * self.bias + ("P",) * self.peepholes

    def without(self, attribute: str) -> Case:
        """The twin: the same case with ``attribute`` at its default (absent, forward, 0)."""
        node = self.node
        changes: dict[str, Any] = {}
        match attribute:
            case "direction":
                node = _node(node, direction="forward", activations=_first(node))
            case "layout":
                node = _node(node, layout=0)
            case "clip":
                node = _node(node, clip=None)
            case "input_forget":
                node = _node(node, input_forget=False)
            case "linear_before_reset":
                node = _node(node, linear_before_reset=False)
            case "activations":
                node = _node(node, activations=None, activation_alpha=(), activation_beta=())
            case "activation_alpha":
                node = _node(node, activation_alpha=())
            case "activation_beta":
                node = _node(node, activation_beta=())
            case "B":
                changes["bias"] = False
            case "P":
                changes["peepholes"] = False
            case "initial_h":
                changes["initial_state"] = False
            case "sequence_lens":
                changes["sequence_lens"] = False
            case _:
                raise ValueError(f"no twin for {attribute!r}")
        return dataclasses.replace(
            self, name=f"{self.name} without {attribute}", node=node, **changes
        )


#: What a runtime does whose outputs are those of a case's twin without the attribute.
IGNORED = {
    "direction": "runs the node forward: it ignores direction",
    "layout": "reads the tensors as layout 0: it ignores layout",
    "B": "ignores the biases B",
    "P": "ignores the peepholes P",
    "initial_h": "starts from zero: it ignores initial_h (and initial_c)",
    "sequence_lens": "runs every sequence to the end: it ignores sequence_lens",
    "clip": "ignores clip",
    "input_forget": "ignores input_forget",
    "linear_before_reset": "computes linear_before_reset=0: it ignores the attribute",
    "activations": "runs the default activations: it ignores activations",
    "activation_alpha": "ignores activation_alpha: the defaults instead",
    "activation_beta": "ignores activation_beta: the defaults instead",
}


def variants(case: Case) -> list[tuple[str, Case]]:
    """The wrong readings of a case that runtimes are known to make, each with what it means:
    every twin (an attribute ignored) and every twin of a twin (two ignored), an LSTM's clip
    left off h(C_t), and for a case that leaves alpha and beta to their defaults, the same
    activations with alpha and beta 0."""
    found = [(IGNORED[attribute], case.without(attribute)) for attribute in case.sets]
    for first, second in itertools.combinations(case.sets, 2):
        both = case.without(first).without(second)
        found.append((f"{IGNORED[first]}, and {IGNORED[second]}", both))
    node = case.node
    if node.op == "LSTM" and node.clip is not None:
        unclipped = _node(node, clip_cell_output=False)
        meaning = "clips the input of every activation but h(C_t)'s"
        found.append((meaning, dataclasses.replace(case, name=f"{case.name} h", node=unclipped)))
    if node.activations is not None and not node.activation_alpha and not node.activation_beta:
        acts = [a for direction in node.resolved for a in direction]
        alphas = tuple(0.0 for a in acts if a.alpha is not None)
        betas = tuple(0.0 for a in acts if a.beta is not None)
        if alphas or betas:
            zero = _node(node, activation_alpha=alphas, activation_beta=betas)
            meaning = "reads the missing alpha and beta as 0, not as the ONNX defaults"
            found.append((meaning, dataclasses.replace(case, name=f"{case.name} zero", node=zero)))
    return found


def _node(node: RecurrentOp, **changes: Any) -> RecurrentOp:
    return dataclasses.replace(node, **changes)


def _first(node: RecurrentOp) -> tuple[str, ...] | None:
    """The forward direction's activations alone (the twin of a bidirectional node)."""
    if node.activations is None:
        return None
    return node.activations[: len(DEFAULT_ACTIVATIONS[node.op])]


def suite() -> list[Case]:
    """Every case, in a fixed order (the order of the report, and what ``--shard`` splits)."""
    cases = [*_grid(), *_attributes(), *_activations(), *_outputs_opsets_sizes()]
    cases = [_direction_set(case) for case in cases]
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names are unique"
    return cases


def _direction_set(case: Case) -> Case:
    """A case that runs reverse or both ways sets direction too (its twin runs forward), where
    its activations do not differ by direction."""
    if case.node.direction == "forward" or "direction" in case.sets or case.node.activations:
        return case
    return dataclasses.replace(case, sets=(*case.sets, "direction"))


def _grid() -> Iterator[Case]:
    for op in OPS:
        for direction in ("forward", "reverse", "bidirectional"):
            for layout in (0, 1):
                for bias in (True, False):
                    for initial in (True, False):
                        for lens in (False, True):
                            parts = [op.lower(), direction]
                            parts += ["layout1"] * layout + ["nobias"] * (not bias)
                            parts += ["noinit"] * (not initial) + ["lens"] * lens
                            sets = ("direction",) * (direction != "forward")
                            sets += ("layout",) * layout + ("B",) * bias
                            sets += ("initial_h",) * initial + ("sequence_lens",) * lens
                            yield Case(
                                "-".join(parts),
                                _grid_node(op, direction, layout),
                                bias=bias,
                                initial_state=initial,
                                sequence_lens=lens,
                                sets=sets,
                            )


def _grid_node(op: OpName, direction: str, layout: int) -> RecurrentOp:
    return RecurrentOp(op=op, hidden_size=HIDDEN_SIZE, direction=direction, layout=layout)


def _attributes() -> Iterator[Case]:
    directions = ("forward", "reverse", "bidirectional")
    for op in OPS:
        for direction in directions:
            for lens in (False, True):
                node = RecurrentOp(op=op, hidden_size=HIDDEN_SIZE, direction=direction, clip=CLIP)
                name = f"{op.lower()}-{direction}-clip" + "-lens" * lens
                yield Case(
                    name, node, sequence_lens=lens, sets=("clip",) + ("sequence_lens",) * lens
                )
    for direction in directions:
        lstm = RecurrentOp(op="LSTM", hidden_size=HIDDEN_SIZE, direction=direction)
        yield Case(f"lstm-{direction}-peepholes", lstm, peepholes=True, sets=("P",))
        forget = _node(lstm, input_forget=True)
        yield Case(f"lstm-{direction}-input_forget", forget, sets=("input_forget",))
        gru = RecurrentOp(
            op="GRU", hidden_size=HIDDEN_SIZE, direction=direction, linear_before_reset=True
        )
        for lens in (False, True):
            name = f"gru-{direction}-linear_before_reset" + "-lens" * lens
            yield Case(
                name,
                gru,
                sequence_lens=lens,
                sets=("linear_before_reset",) + ("sequence_lens",) * lens,
            )
    lstm = RecurrentOp(op="LSTM", hidden_size=HIDDEN_SIZE, direction="bidirectional")
    yield Case(
        "lstm-bidirectional-peepholes-lens-layout1",
        _node(lstm, layout=1),
        peepholes=True,
        sequence_lens=True,
        sets=("P", "sequence_lens", "layout"),
    )
    yield Case(
        "lstm-forward-peepholes-clip",
        _node(lstm, direction="forward", clip=CLIP),
        peepholes=True,
        sets=("P", "clip"),
    )
    yield Case(
        "lstm-forward-input_forget-peepholes",
        _node(lstm, direction="forward", input_forget=True),
        peepholes=True,
        sets=("P", "input_forget"),
    )
    yield Case(
        "lstm-forward-input_forget-clip",
        _node(lstm, direction="forward", input_forget=True, clip=CLIP),
        sets=("input_forget", "clip"),
    )
    gru = RecurrentOp(
        op="GRU",
        hidden_size=HIDDEN_SIZE,
        direction="bidirectional",
        linear_before_reset=True,
        layout=1,
    )
    yield Case(
        "gru-bidirectional-linear_before_reset-layout1-lens",
        gru,
        sequence_lens=True,
        sets=("linear_before_reset", "layout", "sequence_lens"),
    )
    yield Case(
        "gru-forward-linear_before_reset-clip",
        _node(gru, direction="forward", layout=0, clip=CLIP),
        sets=("linear_before_reset", "clip"),
    )


def _activations() -> Iterator[Case]:
    for op in OPS:
        defaults = DEFAULT_ACTIVATIONS[op]
        for slot, default in zip(SLOTS[op], defaults, strict=True):
            for name in ACTIVATIONS:
                if name == default:
                    continue
                chosen = tuple(
                    name if s == slot else d for s, d in zip(SLOTS[op], defaults, strict=True)
                )
                alpha, beta = GIVEN_PARAMETERS.get(name, (None, None))
                node = RecurrentOp(
                    op=op,
                    hidden_size=HIDDEN_SIZE,
                    activations=chosen,
                    activation_alpha=() if alpha is None else (alpha,),
                    activation_beta=() if beta is None else (beta,),
                )
                base = f"{op.lower()}-{slot}={name}"
                defined = _defaults_defined((name,))
                sets = ("activations",) + ("activation_alpha",) * (alpha is not None and defined)
                sets += ("activation_beta",) * (beta is not None and defined)
                # a GRU whose update gate is unbounded grows like |z|^L: smaller weights keep
                # its outputs in float32's range
                scale = 0.25 if op == "GRU" and slot == "f" else 0.7
                yield Case(base, node, sets=sets, weight_scale=scale)
                if alpha is not None and slot == SLOTS[op][0] and defined:
                    plain = _node(node, activation_alpha=(), activation_beta=())
                    yield Case(f"{base}-defaults", plain, sets=("activations",), weight_scale=scale)
        # forward and reverse with activations of their own
        reverse = tuple("Softsign" if a == "Tanh" else "HardSigmoid" for a in defaults)
        node = RecurrentOp(
            op=op,
            hidden_size=HIDDEN_SIZE,
            direction="bidirectional",
            activations=defaults + reverse,
            activation_alpha=(0.3,) * reverse.count("HardSigmoid"),
            activation_beta=(0.4,) * reverse.count("HardSigmoid"),
        )
        sets = ("activations",) + ("activation_alpha", "activation_beta") * (
            "HardSigmoid" in reverse
        )
        yield Case(f"{op.lower()}-bidirectional-activations-per-direction", node, sets=sets)
        # alpha and beta consumed in the order of the activations, skipping those without
        chain = {
            "LSTM": ("HardSigmoid", "Softsign", "ScaledTanh"),
            "GRU": ("LeakyRelu", "ScaledTanh"),
            "RNN": ("Elu",),
        }[op]
        takes_alpha = [n for n in chain if ACTIVATIONS[n][0] is not None]
        takes_beta = [n for n in chain if ACTIVATIONS[n][1] is not None]
        node = RecurrentOp(
            op=op,
            hidden_size=HIDDEN_SIZE,
            activations=chain,
            activation_alpha=tuple(0.25 + 0.5 * i for i in range(len(takes_alpha))),
            activation_beta=tuple(0.35 + 0.3 * i for i in range(len(takes_beta))),
        )
        sets = ("activations",)
        if _defaults_defined(chain):
            sets += ("activation_alpha",) + ("activation_beta",) * bool(takes_beta)
        scale = 0.25 if op == "GRU" else 0.7
        yield Case(
            f"{op.lower()}-activation-parameters-in-order", node, sets=sets, weight_scale=scale
        )


def _defaults_defined(names: tuple[str, ...]) -> bool:
    """Whether ONNX defines every default of these activations' parameters (not ScaledTanh's),
    so that a twin without alpha and beta is a model with a meaning."""
    return all(not math.isnan(v) for name in names for v in ACTIVATIONS[name] if v is not None)


def _outputs_opsets_sizes() -> Iterator[Case]:
    for op in OPS:
        node = RecurrentOp(op=op, hidden_size=HIDDEN_SIZE, direction="bidirectional")
        subsets = [("Y",), ("Y_h",)] + ([("Y_c",), ("Y_h", "Y_c")] if op == "LSTM" else [])
        for subset in subsets:
            name = f"{op.lower()}-bidirectional-lens-only-" + "+".join(subset)
            yield Case(
                name, node, sequence_lens=True, outputs=subset, sets=("direction", "sequence_lens")
            )
        for opset in (7, 22):
            yield Case(
                f"{op.lower()}-bidirectional-lens-opset{opset}",
                node,
                opset=opset,
                sequence_lens=True,
                sets=("direction", "sequence_lens"),
            )
        small = RecurrentOp(op=op, hidden_size=1, direction="bidirectional")
        yield Case(
            f"{op.lower()}-bidirectional-hidden1-input1", small, input_size=1, sets=("direction",)
        )
