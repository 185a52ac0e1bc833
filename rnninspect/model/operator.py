"""ONNX's recurrent operators (LSTM, GRU, RNN): one node's attributes, validated, and what they
mean. Nothing here imports torch or onnx.

The attributes are those of opsets 7 to 22 (``layout`` from 14). The equations, gate orders and
tensor layouts are in ``reference/onnx.py``; this module owns what a node *says*: its operator,
hidden size, direction, activations with their alpha and beta resolved, clip, input_forget,
linear_before_reset and layout.

``activation_alpha`` and ``activation_beta`` are "consumed in the order of activation
functions" (the ONNX operator docs): each activation that takes an alpha takes the next value of
``activation_alpha``, one that takes none takes none (ONNX Runtime reads them the same way), and
an activation left without a value gets the default of the ONNX operator of its name:
LeakyRelu's alpha 0.01, ThresholdedRelu's 1.0, HardSigmoid's 0.2 and 0.5, Elu's 1.0, and
Affine's 1.0 and 0.0 (an experimental operator of ONNX 1.x, since removed). ScaledTanh's
operator gave its alpha and beta no default, so a ScaledTanh without them is refused here
rather than given values ONNX never wrote down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rnninspect.base.errors import SpecError

OpName = Literal["LSTM", "GRU", "RNN"]
OPS: tuple[OpName, ...] = ("LSTM", "GRU", "RNN")
DIRECTIONS = ("forward", "reverse", "bidirectional")

#: Each activation the operators allow, by its ONNX name, with the defaults of the ONNX
#: operator of that name for the parameters it takes (None: it takes no such parameter; NaN:
#: it takes one, and ONNX defines no default).
ACTIVATIONS: dict[str, tuple[float | None, float | None]] = {
    "Relu": (None, None),
    "Tanh": (None, None),
    "Sigmoid": (None, None),
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, None),
    "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (math.nan, math.nan),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
}
_BY_LOWER = {name.lower(): name for name in ACTIVATIONS}

#: The activations of one direction, and their roles in the equations.
DEFAULT_ACTIVATIONS: dict[OpName, tuple[str, ...]] = {
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),  # f (gates i, o, f), g (cell candidate), h (of C_t)
    "GRU": ("Sigmoid", "Tanh"),  # f (gates z, r), g (hidden candidate)
    "RNN": ("Tanh",),  # f
}
#: Row blocks of W and R, in ONNX's order.
GATES: dict[OpName, tuple[str, ...]] = {
    "LSTM": ("i", "o", "f", "c"),
    "GRU": ("z", "r", "h"),
    "RNN": ("i",),
}


@dataclass(frozen=True)
class Activation:
    """One activation function with its parameters resolved."""

    name: str  # the ONNX spelling: "LeakyRelu"
    alpha: float | None = None
    beta: float | None = None

    def __str__(self) -> str:
        given = [f"{v:g}" for v in (self.alpha, self.beta) if v is not None]
        return f"{self.name}({', '.join(given)})" if given else self.name


@dataclass(frozen=True)
class RecurrentOp:
    """One LSTM, GRU or RNN node's attributes, as ONNX defines them (defaults included)."""

    op: OpName
    hidden_size: int
    direction: str = "forward"
    activations: tuple[str, ...] | None = None  # None: the defaults
    activation_alpha: tuple[float, ...] = ()
    activation_beta: tuple[float, ...] = ()
    clip: float | None = None
    input_forget: bool = False  # LSTM only
    linear_before_reset: bool = False  # GRU only
    layout: int = 0
    #: Not an ONNX attribute: False models a runtime that clips every activation input but
    #: h(C_t)'s (conformance's diagnosis of ONNX Runtime's LSTM); ONNX itself clips that too.
    clip_cell_output: bool = True
    resolved: tuple[tuple[Activation, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise SpecError(f"{self.op!r} is not a recurrent operator (LSTM, GRU, RNN)")
        if not isinstance(self.hidden_size, int) or self.hidden_size < 1:
            raise SpecError(
                f"{self.op}: hidden_size must be a positive integer, not {self.hidden_size!r}"
            )
        if self.direction not in DIRECTIONS:
            raise SpecError(
                f"{self.op}: direction must be forward, reverse or bidirectional, "
                f"not {self.direction!r}"
            )
        if self.layout not in (0, 1):
            raise SpecError(f"{self.op}: layout must be 0 or 1, not {self.layout!r}")
        if self.clip is not None and not self.clip > 0:
            raise SpecError(f"{self.op}: clip must be a positive threshold, not {self.clip!r}")
        if self.input_forget and self.op != "LSTM":
            raise SpecError(f"{self.op}: input_forget is an LSTM attribute")
        if self.linear_before_reset and self.op != "GRU":
            raise SpecError(f"{self.op}: linear_before_reset is a GRU attribute")
        object.__setattr__(self, "resolved", self._resolve())

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @property
    def gates(self) -> int:
        """Row blocks of W and R: 4 for LSTM, 3 for GRU, 1 for RNN."""
        return len(GATES[self.op])

    def axes(self, output: str) -> tuple[str, ...]:
        """What each dimension of an output indexes, in this layout: ``Y`` is (t, d, n, h) at
        ``layout=0`` and (n, t, d, h) at 1; ``Y_h`` and ``Y_c`` (d, n, h) and (n, d, h)."""
        if output == "Y":
            return ("n", "t", "d", "h") if self.layout else ("t", "d", "n", "h")
        return ("n", "d", "h") if self.layout else ("d", "n", "h")

    def direction_activations(self, direction: int) -> tuple[Activation, ...]:
        """The activations of direction 0 (forward, or the only one) or 1 (reverse)."""
        return self.resolved[direction]

    def _resolve(self) -> tuple[tuple[Activation, ...], ...]:
        per = len(DEFAULT_ACTIVATIONS[self.op])
        names = self.activations
        if names is None:
            names = DEFAULT_ACTIVATIONS[self.op] * self.num_directions
        if len(names) != per * self.num_directions:
            raise SpecError(
                f"{self.op} ({self.direction}) takes {per * self.num_directions} activations "
                f"({per} a direction), not {len(names)}: {', '.join(names)}"
            )
        alphas, betas = list(self.activation_alpha), list(self.activation_beta)
        resolved: list[Activation] = []
        for name in names:
            canonical = _BY_LOWER.get(str(name).lower())
            if canonical is None:
                raise SpecError(
                    f"{self.op}: unknown activation {name!r}; the operators allow "
                    f"{', '.join(ACTIVATIONS)}"
                )
            default_alpha, default_beta = ACTIVATIONS[canonical]
            alpha = _take(alphas, default_alpha)
            beta = _take(betas, default_beta)
            if any(value is not None and math.isnan(value) for value in (alpha, beta)):
                raise SpecError(
                    f"{self.op}: {canonical} needs its alpha and beta in activation_alpha and "
                    "activation_beta: ONNX defines no default for them"
                )
            resolved.append(Activation(canonical, alpha, beta))
        if alphas or betas:
            left = [f"{len(alphas)} activation_alpha"] * bool(alphas)
            left += [f"{len(betas)} activation_beta"] * bool(betas)
            raise SpecError(
                f"{self.op}: {' and '.join(left)} value(s) left over: no activation takes them "
                f"({', '.join(names)})"
            )
        return tuple(tuple(resolved[d * per : (d + 1) * per]) for d in range(self.num_directions))

    def describe(self) -> str:
        """The attributes that differ from the defaults, in one line: ``LSTM hidden 4,
        bidirectional, clip 0.5``."""
        parts = [f"{self.op} hidden {self.hidden_size}"]
        if self.direction != "forward":
            parts.append(self.direction)
        if self.activations is not None:
            per_direction = [" ".join(str(a) for a in acts) for acts in self.resolved]
            parts.append("activations " + " | ".join(per_direction))
        if self.clip is not None:
            parts.append(f"clip {self.clip:g}")
        if self.input_forget:
            parts.append("input_forget")
        if self.op == "GRU":
            parts.append(f"linear_before_reset {int(self.linear_before_reset)}")
        if self.layout:
            parts.append("layout 1")
        return ", ".join(parts)


def _take(values: list[float], default: float | None) -> float | None:
    """The next value for a parameter the activation takes (its default when none is left);
    None where it takes none, which consumes nothing."""
    if default is None:
        return None
    return float(values.pop(0)) if values else default


def op_from_attributes(op: str, attributes: dict[str, object]) -> RecurrentOp:
    """A node's attributes (as ``onnx.helper.get_attribute_value`` reads them, strings
    decoded) as a :class:`RecurrentOp`; an attribute the operator does not define is an error,
    so that nothing a node says is silently ignored."""
    known = {
        "hidden_size",
        "direction",
        "activations",
        "activation_alpha",
        "activation_beta",
        "clip",
        "layout",
        *(("input_forget",) if op == "LSTM" else ()),
        *(("linear_before_reset",) if op == "GRU" else ()),
    }
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise SpecError(f"{op}: attribute {', '.join(unknown)} is not one ONNX defines for it")
    if "hidden_size" not in attributes:
        raise SpecError(f"{op}: no hidden_size attribute (rnninspect reads it rather than guess)")
    activations = attributes.get("activations")
    return RecurrentOp(
        op=op,  # type: ignore[arg-type]
        hidden_size=_int(attributes["hidden_size"]),
        direction=str(attributes.get("direction", "forward")),
        activations=None if activations is None else tuple(str(a) for a in _seq(activations)),
        activation_alpha=tuple(_float(v) for v in _seq(attributes.get("activation_alpha", ()))),
        activation_beta=tuple(_float(v) for v in _seq(attributes.get("activation_beta", ()))),
        clip=None if attributes.get("clip") is None else _float(attributes["clip"]),
        input_forget=bool(_int(attributes.get("input_forget", 0))),
        linear_before_reset=bool(_int(attributes.get("linear_before_reset", 0))),
        layout=_int(attributes.get("layout", 0)),
    )


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"expected an integer attribute, found {value!r}")
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number attribute, found {value!r}")
    return float(value)


def _seq(value: object) -> Sequence[object]:
    if isinstance(value, (list, tuple)):
        return value
    raise SpecError(f"expected a list attribute, found {value!r}")
