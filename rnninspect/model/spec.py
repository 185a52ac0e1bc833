"""What module to inspect: the cell kinds, the validated configuration, and SPEC strings.

Nothing here imports torch. A configuration comes from two places, a SPEC string such as
``nn.LSTM(10, 20, num_layers=2)`` and the command-line options; options override the SPEC.
Every value is checked here, once, before anything is built: both what torch itself refuses and
what torch silently accepts although it is almost certainly a mistake (``bidirectional='no'``
builds a bidirectional module; ``True`` passes as a size; ``RNNCell(nonlinearity='sigmoid')``
only fails at the first forward).
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rnninspect.base.errors import SpecError as SpecError


class CellKind(StrEnum):
    """The six torch.nn recurrent classes, by their CLI names."""

    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"
    RNN_CELL = "rnn_cell"
    LSTM_CELL = "lstm_cell"
    GRU_CELL = "gru_cell"

    @property
    def torch_name(self) -> str:
        """The class name in ``torch.nn``: ``LSTM``, ``GRUCell``, ..."""
        return _TORCH_NAMES[self]

    @property
    def is_cell(self) -> bool:
        """True for RNNCell, LSTMCell and GRUCell, which take a single time step."""
        return self.value.endswith("_cell")

    @property
    def family(self) -> str:
        """``rnn``, ``lstm`` or ``gru``: the recurrence, whether stepped once or looped."""
        return self.value.removesuffix("_cell")

    @property
    def gate_names(self) -> tuple[str, ...]:
        """The row blocks of ``weight_ih``/``weight_hh``, in torch's order."""
        return _GATES[self.family]

    @property
    def positional(self) -> tuple[str, ...]:
        """Constructor arguments in the order torch's class takes them positionally."""
        return _POSITIONAL[self]

    @classmethod
    def from_torch_name(cls, name: str) -> CellKind:
        for kind, torch_name in _TORCH_NAMES.items():
            if torch_name == name:
                return kind
        raise KeyError(name)


_TORCH_NAMES = {
    CellKind.RNN: "RNN",
    CellKind.LSTM: "LSTM",
    CellKind.GRU: "GRU",
    CellKind.RNN_CELL: "RNNCell",
    CellKind.LSTM_CELL: "LSTMCell",
    CellKind.GRU_CELL: "GRUCell",
}
_GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
_SIZES = ("input_size", "hidden_size")
_TAIL = ("batch_first", "dropout", "bidirectional")
_POSITIONAL = {
    CellKind.RNN: (*_SIZES, "num_layers", "nonlinearity", "bias", *_TAIL),
    CellKind.LSTM: (*_SIZES, "num_layers", "bias", *_TAIL, "proj_size"),
    CellKind.GRU: (*_SIZES, "num_layers", "bias", *_TAIL),
    CellKind.RNN_CELL: (*_SIZES, "bias", "nonlinearity"),
    CellKind.LSTM_CELL: (*_SIZES, "bias"),
    CellKind.GRU_CELL: (*_SIZES, "bias"),
}

#: Settings that only the sequence classes (RNN, LSTM, GRU) have.
SEQUENCE_ONLY = ("num_layers", "batch_first", "dropout", "bidirectional", "seq_len", "lengths")

#: The largest seed: torch's generators take 64-bit seeds, and rnninspect offsets it a little.
MAX_SEED = 2**63 - 16

#: The largest size of any dimension: torch indexes with 64-bit integers, but no real RNN comes
#: near 2**31, and every limit is checked before anything loops over layers or steps.
MAX_DIM = 2**31 - 1

#: The most layers a stack may have: deeper than any trained RNN, small enough to loop over.
MAX_LAYERS = 1000

#: The longest SPEC: a constructor call with every argument written out is a few hundred.
MAX_SPEC_LENGTH = 2000


def option_name(key: str) -> str:
    """The command-line spelling of a configuration key: ``hidden_size`` -> ``--hidden-size``."""
    return "--" + key.replace("_", "-")


@dataclass(frozen=True)
class RNNSpec:
    """One validated configuration: the module to build and the example input to feed it.

    Build it with :func:`make_spec` (or :func:`resolve`), which validates; the constructor
    trusts its arguments. For the Cell classes, the sequence-only fields keep their defaults
    and ``seq_len`` is unused.
    """

    cell: CellKind = CellKind.RNN
    input_size: int = 10
    hidden_size: int = 20
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    bidirectional: bool = False
    nonlinearity: str = "tanh"
    dropout: float = 0.0
    proj_size: int = 0
    batch: int = 3
    seq_len: int = 5
    unbatched: bool = False
    seed: int = 0
    lengths: tuple[int, ...] | None = None

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        """H_out: the size of h and of each direction's output (proj_size when projecting)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def has_cell_state(self) -> bool:
        return self.cell.family == "lstm"

    @property
    def relu(self) -> bool:
        """An Elman RNN or RNNCell with relu, whose derivative jumps at 0."""
        return self.cell.family == "rnn" and self.nonlinearity == "relu"

    def to_dict(self) -> dict[str, Any]:
        """Every CONFIG value by its long name with underscores (the contract's ``config``)."""
        values = dataclasses.asdict(self)
        values["cell"] = self.cell.value
        values["lengths"] = None if self.lengths is None else list(self.lengths)
        return values

    @property
    def tokens(self) -> int:
        """Valid time steps of all sequences: the sum of the lengths, else batch x seq_len."""
        if self.lengths is not None:
            return sum(self.lengths)
        batch = 1 if self.unbatched else self.batch
        return batch * (1 if self.cell.is_cell else self.seq_len)

    def constructor_kwargs(self) -> dict[str, Any]:
        """The keyword arguments torch's constructor for this class takes."""
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in self.cell.positional}
        return kwargs

    def to_spec_string(self) -> str:
        """A SPEC string that rebuilds this module: ``nn.LSTM(10, 20, num_layers=2)``."""
        parts = [repr(self.input_size), repr(self.hidden_size)]
        for name in self.cell.positional[2:]:
            value = getattr(self, name)
            if value != DEFAULTS[name]:
                parts.append(f"{name}={value!r}")
        return f"nn.{self.cell.torch_name}({', '.join(parts)})"


#: Every configuration value with its default, in the contract's order.
DEFAULTS: dict[str, Any] = {field.name: field.default for field in dataclasses.fields(RNNSpec)}


# ---------------------------------------------------------------------------------------------
# SPEC strings


def parse_spec(text: str) -> tuple[CellKind, dict[str, Any]]:
    """Parse a constructor call such as ``nn.LSTM(10, 20, num_layers=2)`` without running it.

    Returns the cell kind and the arguments by torch's keyword names. Only literals are
    accepted as arguments, and the callee must be one of the six classes, spelled bare, as
    ``nn.X`` or as ``torch.nn.X``.
    """
    call = _expression(text)
    if not isinstance(call, ast.Call):
        raise SpecError(
            f"SPEC must be one constructor call such as 'nn.LSTM(10, 20)', got {text!r}"
        )
    cell = _callee_kind(call.func)
    positional = cell.positional
    if len(call.args) > len(positional):
        raise SpecError(
            f"{cell.torch_name} takes at most {len(positional)} positional arguments "
            f"({', '.join(positional)}), got {len(call.args)}"
        )
    values: dict[str, Any] = {}
    for name, node in zip(positional, call.args, strict=False):
        values[name] = _literal(node, name)
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SpecError("SPEC may not use ** unpacking; write each argument out")
        name = keyword.arg
        if name in ("device", "dtype"):
            raise SpecError(
                f"SPEC argument {name!r} is chosen with the {option_name(name)} option "
                "of verify and bench, not in the SPEC"
            )
        if name not in positional:
            others = [kind.torch_name for kind in CellKind if name in kind.positional]
            verb = "takes" if len(others) == 1 else "take"
            where = (
                f"only {', '.join(others)} {verb} it"
                if others
                else f"it takes {', '.join(positional)}"
            )
            raise SpecError(
                f"{cell.torch_name} got an unexpected keyword argument {name!r}; {where}"
            )
        if name in values:
            raise SpecError(f"{cell.torch_name} got multiple values for argument {name!r}")
        values[name] = _literal(keyword.value, name)
    return cell, values


def _expression(text: str) -> ast.expr:
    """The SPEC's expression; an assignment copied from code (``self.rnn = nn.LSTM(10, 20)``,
    ``lstm: nn.LSTM = nn.LSTM(10, 20)``) gives its right-hand side."""
    source = text.strip()
    if len(source) > MAX_SPEC_LENGTH:
        raise SpecError(
            f"SPEC is {len(source):,} characters long; a constructor call is at most "
            f"{MAX_SPEC_LENGTH:,}"
        )
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        message = exc.msg
    except (RecursionError, MemoryError):
        raise SpecError("SPEC is nested too deeply to be a constructor call") from None
    try:
        statements = ast.parse(source, mode="exec").body
    except (SyntaxError, RecursionError, MemoryError):
        statements = []
    if len(statements) == 1:
        statement = statements[0]
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            return statement.value
    shown = source if len(source) <= 120 else source[:120] + "..."
    raise SpecError(
        f"SPEC is not a valid Python expression: {shown!r} ({message[:120]}); write the "
        "constructor call alone, such as 'nn.LSTM(10, 20)'"
    )


def _callee_kind(func: ast.expr) -> CellKind:
    parts: list[str] = []
    node = func
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    else:
        parts = []
    dotted = ".".join(reversed(parts))
    name = parts[0] if parts else ""
    if dotted in (name, f"nn.{name}", f"torch.nn.{name}"):
        try:
            return CellKind.from_torch_name(name)
        except KeyError:
            pass
    choices = ", ".join(kind.torch_name for kind in CellKind)
    shown = dotted or ast.unparse(func)
    raise SpecError(f"SPEC must call one of {choices} (as X, nn.X or torch.nn.X), not {shown!r}")


def _literal(node: ast.expr, name: str) -> Any:
    """A literal argument value; anything that would need evaluating is refused. A chain of
    minus signs is followed in a loop, not by recursion: a thousand of them is a value (or a
    refusal), never a RecursionError."""
    operand, signs = node, 0
    while isinstance(operand, ast.UnaryOp) and isinstance(operand.op, ast.USub):
        operand, signs = operand.operand, signs + 1
    if isinstance(operand, ast.Constant) and isinstance(
        operand.value, int | float | str | bool | type(None)
    ):
        value = operand.value
        if not signs:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if signs % 2 else value
    # a long chain as text, where ast.unparse would recurse through it
    shown = ast.unparse(node) if signs < 100 else "-" * signs + ast.unparse(operand)
    shown = shown if len(shown) <= 120 else shown[:120] + "..."
    raise SpecError(
        f"SPEC argument {name!r} must be a literal (number, string, True/False/None), got {shown!r}"
    )


# ---------------------------------------------------------------------------------------------
# Validation


def resolve(spec_text: str | None, options: Mapping[str, Any]) -> RNNSpec:
    """Combine a SPEC string and command-line options into a validated :class:`RNNSpec`.

    ``options`` holds only what the user gave (``None`` values are ignored); it may contain
    ``cell`` as a CLI name. Options override the SPEC.
    """
    given: dict[str, Any] = {}
    if spec_text is not None:
        cell, from_spec = parse_spec(spec_text)
        given["cell"] = cell
        given.update(from_spec)
    given.update({key: value for key, value in options.items() if value is not None})
    return make_spec(**given)


def make_spec(**given: Any) -> RNNSpec:
    """Validate configuration values (torch's keyword names) and build an :class:`RNNSpec`.

    Values not given take their defaults. Raises :class:`SpecError` with one line that names
    the setting and what it accepts.
    """
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise SpecError(f"unknown setting {unknown[0]!r}; settings are {', '.join(DEFAULTS)}")
    cell = _cell(given.get("cell", DEFAULTS["cell"]))
    values = {**DEFAULTS, **given, "cell": cell}

    for name in ("input_size", "hidden_size", "batch", "seq_len", "num_layers"):
        _positive_int(name, values[name])
        highest = MAX_LAYERS if name == "num_layers" else MAX_DIM
        if values[name] > highest:
            raise SpecError(
                f"{name} ({option_name(name)}) must be at most {highest:,}, got "
                f"{_short(values[name])}"
            )
    _int(values["seed"], "seed", minimum=0)
    if values["seed"] > MAX_SEED:
        raise SpecError(f"seed (--seed) must be at most {MAX_SEED}, got {_short(values['seed'])}")
    _int(values["proj_size"], "proj_size", minimum=0)
    if values["proj_size"] > MAX_DIM:
        raise SpecError(f"proj_size (--proj-size) must be at most {MAX_DIM:,}")
    for name in ("bias", "batch_first", "bidirectional", "unbatched"):
        _bool(name, values[name])
    values["dropout"] = _dropout(values["dropout"])
    _nonlinearity(values["nonlinearity"])

    if cell.is_cell:
        for name in SEQUENCE_ONLY:
            if name in given and (name == "seq_len" or given[name] != DEFAULTS[name]):
                raise SpecError(
                    f"{name} ({option_name(name)}) does not apply to {cell.torch_name}, "
                    "which takes one time step"
                )
    if cell != CellKind.LSTM and values["proj_size"] != 0:
        raise SpecError(
            f"proj_size (--proj-size) is only supported for LSTM, not {cell.torch_name}"
        )
    if cell.family != "rnn" and values["nonlinearity"] != "tanh":
        raise SpecError(
            f"nonlinearity (--nonlinearity) applies to RNN and RNNCell only; "
            f"{cell.torch_name} has fixed sigmoid/tanh gates"
        )
    if values["proj_size"] >= values["hidden_size"]:
        raise SpecError(
            f"proj_size (--proj-size) must be smaller than hidden_size "
            f"({values['hidden_size']}), got {values['proj_size']}"
        )
    if values["unbatched"] and "batch" in given:
        raise SpecError(
            "--batch does not apply with --unbatched, whose input has no batch dimension"
        )
    values["lengths"] = lengths = _lengths(values["lengths"])
    if lengths is not None:
        if values["unbatched"]:
            raise SpecError("--lengths does not apply with --unbatched: it packs a batch")
        if "batch" in given and given["batch"] != len(lengths):
            raise SpecError(
                f"--batch {given['batch']} disagrees with --lengths, which gives "
                f"{len(lengths)} sequences"
            )
        values["batch"] = len(lengths)
        if "seq_len" not in given:
            values["seq_len"] = max(lengths)
        elif given["seq_len"] < max(lengths):
            raise SpecError(
                f"--seq-len {given['seq_len']} is shorter than the longest of --lengths "
                f"({max(lengths)})"
            )
    return RNNSpec(**values)


def _lengths(value: Any) -> tuple[int, ...] | None:
    """``--lengths``: ``"5,3,2"`` or a list of integers, each at least 1."""
    if value is None:
        return None
    items = value
    if isinstance(value, str):
        try:
            items = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise SpecError(f"--lengths must be integers such as 5,3,2, got {value!r}") from None
    if not isinstance(items, list | tuple) or not items:
        raise SpecError(f"--lengths must be one or more integers such as 5,3,2, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise SpecError(
                f"--lengths must be integers >= 1 (a sequence of length 0 cannot be packed), "
                f"got {_short(item)}"
            )
        if item > MAX_DIM:
            raise SpecError(f"--lengths must be at most {MAX_DIM:,}, got {_short(item)}")
    return tuple(items)


def _cell(value: Any) -> CellKind:
    if isinstance(value, CellKind):
        return value
    try:
        return CellKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in CellKind)
        raise SpecError(f"cell (--cell) must be one of {choices}, got {value!r}") from None


def _describe(value: Any) -> str:
    return f"{_short(value)} (a {type(value).__name__})"


def _short(value: Any) -> str:
    """A value as an error line quotes it: a huge number or string cut to a readable length."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a {len(str(value)) if value.bit_length() < 10_000 else 'huge'}-digit number"
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(
            f"{name} ({option_name(name)}) must be an integer >= {minimum}, got {_describe(value)}"
        )
    if value < minimum:
        raise SpecError(
            f"{name} ({option_name(name)}) must be an integer >= {minimum}, got {_short(value)}"
        )


def _positive_int(name: str, value: Any) -> None:
    _int(value, name, minimum=1)


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        hint = ""
        if isinstance(value, str):
            hint = "; torch would treat any non-empty string as True"
        elif isinstance(value, int | float):
            hint = "; torch wants a real bool here"
        raise SpecError(f"{name} must be True or False, got {_describe(value)}{hint}")


def _dropout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"dropout (--dropout) must be a number in [0, 1], got {_describe(value)}")
    if not 0 <= value <= 1:
        raise SpecError(
            f"dropout (--dropout) must be a probability in [0, 1] of zeroing an element, "
            f"got {value}"
        )
    return float(value)


def _nonlinearity(value: Any) -> None:
    if value not in ("tanh", "relu"):
        raise SpecError(f"nonlinearity (--nonlinearity) must be 'tanh' or 'relu', got {value!r}")
