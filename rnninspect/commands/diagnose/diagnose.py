"""``rnninspect diagnose``: do the shapes a user has fit this module, and if not, why not.

The batch and sequence length are read from the input shape the user gives, as torch reads
them; every other size comes from the module. Each misfit names the tensor, the dimension, what
was given, what was expected and what that dimension means, with a hint at the likely cause.
torch itself is also run on tensors of those shapes, in a child process with a timeout, because
some mismatches crash torch's process outright (an LSTMCell given a 3-D state dies with SIGSEGV
on torch 2.13), and its own error is quoted beside ours.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from rnninspect.commands.diagnose.reading import example
from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec, SpecError
from rnninspect.reports.common import versions
from rnninspect.reports.diagnose import DiagnoseReport, Problem, Shape
from rnninspect.reports.diagnose import format_shape as _fmt


def parse_shape(text: str, option: str) -> Shape:
    """``5,7,10``, ``(5, 7, 10)`` or ``[5, 7, 10]`` as a shape; sizes must be positive."""
    inner = text.strip().strip("()[]")
    try:
        sizes = tuple(int(part) for part in re.split(r"[,\s×]+", inner) if part)
    except ValueError:
        raise SpecError(f"{option} must be sizes such as 5,7,10, got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise SpecError(f"{option} must be one or more sizes >= 1 such as 5,7,10, got {text!r}")
    if any(size > INT64_MAX for size in sizes):
        shown = text if len(text) <= 80 else text[:80] + "..."
        raise SpecError(
            f"{option}: a size over 2**63 - 1, the largest torch's int64 sizes hold, got {shown!r}"
        )
    return sizes


#: The largest size a torch tensor's dimension can have.
INT64_MAX = 2**63 - 1


def diagnose(
    spec: RNNSpec,
    input_shape: Shape,
    h0: Shape | None = None,
    c0: Shape | None = None,
    lengths: tuple[int, ...] | None = None,
) -> list[Problem]:
    """Every misfit between the given shapes (and packing ``lengths``) and the module, with
    hints; a proposed change is kept only when diagnosing the changed shapes clears it."""
    shapes = {"input": input_shape, "h0": h0, "c0": c0}
    problems = _problems(spec, shapes, lengths)
    return [_checked(spec, problem, shapes, lengths) for problem in problems]


def _problems(
    spec: RNNSpec, shapes: Mapping[str, Shape | None], lengths: tuple[int, ...] | None
) -> list[Problem]:
    x, h0, c0 = shapes["input"], shapes["h0"], shapes["c0"]
    assert x is not None
    if spec.cell.is_cell:
        return _cell(spec, x, h0, c0)
    return _sequence(spec, x, h0, c0) + _packing(spec, x, lengths)


def _checked(
    spec: RNNSpec,
    problem: Problem,
    shapes: Mapping[str, Shape | None],
    lengths: tuple[int, ...] | None,
) -> Problem:
    """The problem as it is when its fix clears it and brings no new misfit to the tensors it
    changes, else with the fix and its advice replaced by what is expected."""
    if problem.fix is None:
        return problem
    touched = {problem.tensor, *problem.fix}
    before = {(p.tensor, p.dim) for p in _problems(spec, shapes, lengths)}
    after = {(p.tensor, p.dim) for p in _problems(spec, {**shapes, **problem.fix}, lengths)}
    remaining = {(tensor, dim) for tensor, dim in after if tensor in touched}
    if remaining <= before - {(problem.tensor, problem.dim)}:
        return problem
    hint = f"{problem.tensor} must be {problem.wanted_text}"
    return dataclasses.replace(problem, fix=None, hint=hint)


def _sequence(spec: RNNSpec, x: Shape, h0: Shape | None, c0: Shape | None) -> list[Problem]:
    problems: list[Problem] = []
    stack = spec.num_layers * spec.num_directions
    layout = "(N, L, H_in)" if spec.batch_first else "(L, N, H_in)"
    if len(x) not in (2, 3):
        problems.append(
            Problem(
                "input",
                None,
                x,
                None,
                "a sequence",
                f"nn.{spec.cell.torch_name} reads a whole sequence: a 3-D batch "
                f"{layout} or one 2-D sequence (L, H_in)",
                expected_text=f"3-D {layout}, or 2-D (L, H_in) unbatched",
            )
        )
        return problems
    problems += _feature_size(spec, x)
    unbatched = len(x) == 2
    if unbatched:
        batch, length = None, x[0]
    else:
        batch, length = (x[0], x[1]) if spec.batch_first else (x[1], x[0])

    states = [("h0", h0, spec.out_size, "H_out")]
    if spec.has_cell_state:
        states.append(("c0", c0, spec.hidden_size, "H_cell"))
        if (h0 is None) != (c0 is None):
            missing = "c0" if c0 is None else "h0"
            want = (stack,) if unbatched else (stack, batch or 0)
            size = spec.hidden_size if missing == "c0" else spec.out_size
            problems.append(
                Problem(
                    missing,
                    None,
                    None,
                    (*want, size),
                    "the LSTM's state (h0, c0)",
                    "an LSTM takes its state as a tuple (h0, c0), never a single tensor: pass "
                    "both, or neither for zeros",
                )
            )
    elif c0 is not None:
        problems.append(
            Problem(
                "c0",
                None,
                c0,
                None,
                "a cell state",
                f"nn.{spec.cell.torch_name} has no cell state; only LSTM takes (h0, c0)",
            )
        )

    for name, shape, size, symbol in states:
        if shape is None:
            continue
        expected: Shape = (stack, size) if unbatched else (stack, batch or 0, size)
        problems += _state(spec, name, shape, expected, symbol, x, length, batch)
    return problems


def _packing(spec: RNNSpec, x: Shape, lengths: tuple[int, ...] | None) -> list[Problem]:
    """``--lengths`` against the input: one length per sequence, none longer than L."""
    if lengths is None or len(x) not in (2, 3):
        return []
    if len(x) == 2:
        return [
            Problem(
                "lengths",
                None,
                len(lengths),
                None,
                "packing needs a batch",
                f"a 2-D input {_fmt(x)} is one unbatched sequence, and pack_padded_sequence "
                "packs a batch: give the input its batch dimension, or drop --lengths",
                expected_text="no lengths for a 2-D input",
            )
        ]
    batch, length = (x[0], x[1]) if spec.batch_first else (x[1], x[0])
    problems = []
    if len(lengths) != batch:
        axis = "first" if spec.batch_first else "second"
        problems.append(
            Problem(
                "lengths",
                None,
                len(lengths),
                batch,
                "one length per sequence (N, from the input)",
                f"{len(lengths)} lengths for a batch of {batch} (the input's {axis} dimension "
                f"with batch_first={spec.batch_first}): pass one length per sequence",
            )
        )
    longest = max(lengths)
    if longest > length:
        axis = "second" if spec.batch_first else "first"
        problems.append(
            Problem(
                "lengths",
                None,
                longest,
                length,
                "at most L, the input's sequence length",
                f"lengths[{lengths.index(longest)}] = {longest} is longer than the padded "
                f"input's {length} steps (its "
                f"{axis} dimension with batch_first={spec.batch_first}); lengths count the "
                "valid steps of each sequence",
            )
        )
    return problems


def _feature_size(spec: RNNSpec, x: Shape) -> list[Problem]:
    """The input's last dimension against input_size."""
    if x[-1] == spec.input_size:
        return []
    hint = (
        f"the features per step must equal the module's input_size={spec.input_size}: check the "
        "embedding size or the layer feeding it"
    )
    return [Problem("input", len(x) - 1, x[-1], spec.input_size, "input_size (H_in)", hint)]


def _unbatched_state(spec: RNNSpec, name: str, shape: Shape, expected: Shape, x: Shape) -> Problem:
    """A 3-D state beside a 2-D input: which reading of the input the state's batch implies."""
    steps, state_batch = x[0], shape[1]
    hint = (
        f"a 2-D input {_fmt(x)} is read as one unbatched sequence (L, H_in), so {name} must "
        f"be 2-D {_fmt(expected)}"
    )
    fix = None
    if state_batch in (1, steps):
        one_sequence = state_batch == 1
        reading = (
            f"one sequence of {steps} steps in a batch of 1"
            if one_sequence
            else f"one time step of a batch of {steps}"
        )
        axis = int(one_sequence != spec.batch_first)  # where the input lacks its 1
        fixed = (*x[:axis], 1, *x[axis:])
        hint += (
            f"; {name}'s batch of {state_batch} says the input is {reading}: use "
            f"input.unsqueeze({axis}), of shape {_fmt(fixed)}"
        )
        fix = {"input": fixed}
    else:
        hint += f"; its batch of {state_batch} matches no reading of the input"
    meaning = "(D*num_layers, H) for unbatched input"
    return Problem(name, None, shape, expected, meaning, hint, fix)


def _state(
    spec: RNNSpec,
    name: str,
    shape: Shape,
    expected: Shape,
    symbol: str,
    x: Shape,
    length: int,
    batch: int | None,
) -> list[Problem]:
    """The misfits of h0 or c0 against ``(D*num_layers, [N,] H)``."""
    stack = expected[0]
    if len(shape) != len(expected):
        if batch is None and len(shape) == 3:
            return [_unbatched_state(spec, name, shape, expected, x)]
        return [
            Problem(
                name,
                None,
                shape,
                expected,
                "(D*num_layers, N, H)",
                f"{name} is {len(shape)}-D; it must be (D*num_layers, N, {symbol}), even with "
                "batch_first=True and even for one layer",
            )
        ]
    problems: list[Problem] = []
    if batch is not None and shape[0] == batch and shape[1] == stack and batch != stack:
        swapped = (shape[1], shape[0], shape[2])
        return [
            Problem(
                name,
                0,
                shape[0],
                stack,
                "num_layers*num_directions",
                f"{name} looks batch-first {_fmt(shape)}: states keep (D*num_layers, N, {symbol}) "
                f"even with batch_first=True; use {name}.transpose(0, 1).contiguous()",
                fix={name: swapped},
            )
        ]
    if shape[0] != stack:
        hint = (
            f"the first dimension counts layers x directions: {spec.num_layers} x "
            f"{spec.num_directions} = {stack}"
        )
        if spec.bidirectional and shape[0] == spec.num_layers:
            hint = (
                f"{name} was built without the directions of a bidirectional module: its first "
                f"dimension is num_layers*2 = {stack}, forward and reverse for each layer"
            )
        problems.append(Problem(name, 0, shape[0], stack, "num_layers*num_directions", hint))
    if batch is not None and shape[1] != batch:
        hint = f"{name}'s batch must equal the input's, {batch}"
        fix: dict[str, Shape] | None = None
        if shape[1] == length and length != batch:
            where = "first" if not spec.batch_first else "second"
            hint = (
                f"batch and sequence look swapped: with batch_first={spec.batch_first} the "
                f"input is {'(N, L, H_in)' if spec.batch_first else '(L, N, H_in)'}, so its "
                f"batch is {batch} and its {where} dimension ({length}) is the sequence; if your "
                f"input is {'(L, N, H_in)' if spec.batch_first else '(N, L, H_in)'}, build the "
                f"module with batch_first={not spec.batch_first} or transpose(0, 1) the input"
            )
            fix = {"input": (x[1], x[0], x[2])}
        problems.append(Problem(name, 1, shape[1], batch, "batch (N, from the input)", hint, fix))
    size = expected[-1]
    if shape[-1] != size:
        hint = f"{name}'s last dimension is {symbol} = {size}"
        if spec.proj_size and name == "h0" and shape[-1] == spec.hidden_size:
            hint = (
                f"with proj_size, h0's last dimension is proj_size ({spec.proj_size}), not "
                f"hidden_size ({spec.hidden_size}); c0 keeps hidden_size"
            )
        if spec.proj_size and name == "c0" and shape[-1] == spec.proj_size:
            hint = (
                f"c0 keeps hidden_size ({spec.hidden_size}); only h0 is projected to "
                f"proj_size ({spec.proj_size})"
            )
        meaning = "proj_size" if spec.proj_size and name == "h0" else "hidden_size"
        problems.append(Problem(name, len(shape) - 1, shape[-1], size, meaning, hint))
    return problems


def _cell(spec: RNNSpec, x: Shape, h0: Shape | None, c0: Shape | None) -> list[Problem]:
    name = spec.cell.torch_name
    problems: list[Problem] = []
    if len(x) not in (1, 2):
        sequence = name.removesuffix("Cell")
        problems.append(
            Problem(
                "input",
                None,
                x,
                None,
                "one time step",
                f"nn.{name} takes one time step (N, H_in): loop over the sequence and feed it "
                f"x[t], or use nn.{sequence} for a whole (L, N, H_in) sequence",
                expected_text="2-D (N, H_in), or 1-D (H_in,) unbatched",
            )
        )
        return problems
    problems += _feature_size(spec, x)
    batch = x[0] if len(x) == 2 else None
    expected: Shape = (spec.hidden_size,) if batch is None else (batch, spec.hidden_size)
    states = [("h0", h0)] + ([("c0", c0)] if spec.has_cell_state else [])
    if spec.has_cell_state and (h0 is None) != (c0 is None):
        missing = "c0" if c0 is None else "h0"
        problems.append(
            Problem(
                missing,
                None,
                None,
                expected,
                "the LSTMCell's state (h0, c0)",
                "an LSTMCell takes its state as a tuple (h0, c0): pass both, or neither for zeros",
            )
        )
    if not spec.has_cell_state and c0 is not None:
        problems.append(
            Problem("c0", None, c0, None, "a cell state", f"nn.{name} has no cell state")
        )
    for state_name, shape in states:
        if shape is None or shape == expected:
            continue
        fix: dict[str, Shape] | None = None
        if len(shape) == len(expected) + 1 and shape[0] == 1 and shape[1:] == expected:
            hint = (
                f"a Cell's state has no layers dimension: {_fmt(expected)}, not "
                f"{_fmt(shape)}; use {state_name}.squeeze(0)"
            )
            fix = {state_name: shape[1:]}
        elif len(shape) != len(expected):
            hint = f"{state_name} must be {len(expected)}-D like the input: {_fmt(expected)}"
        elif batch is not None and shape[0] != batch:
            hint = f"{state_name}'s batch must equal the input's, {batch}"
        else:
            hint = f"{state_name}'s last dimension is hidden_size = {spec.hidden_size}"
        problems.append(Problem(state_name, None, shape, expected, "(N, hidden_size)", hint, fix))
    return problems


def diagnose_shapes(
    spec: RNNSpec,
    input_shape: tuple[int, ...],
    h0: tuple[int, ...] | None = None,
    c0: tuple[int, ...] | None = None,
    probe: bool = True,
) -> DiagnoseReport:
    """Whether these shapes fit the module; torch's own verdict beside rnninspect's.

    ``spec.lengths``, when set, packs the input as ``pack_padded_sequence`` would; the batch
    and sequence length are read from ``input_shape``, never from the spec.
    """
    import math

    import torch

    from rnninspect.commands.diagnose.probe import torch_verdict
    from rnninspect.commands.diagnose.reading import how_read

    lengths = spec.lengths
    problems = diagnose(spec, input_shape, h0, c0, lengths)
    read = example(spec, input_shape)
    torch_ran, torch_error, torch_note = False, None, None
    if probe:
        given = [s for s in (input_shape, h0, c0) if s is not None]
        needed = max(
            memory.estimate(read).shapes,
            4 * (sum(math.prod(s) for s in given) + memory.estimate(spec).parameters),
        )
        limit = memory.default_limit()
        if needed > limit:
            torch_note = (
                f"torch's probe was skipped: running torch on these shapes needs an estimated "
                f"{memory.format_bytes(needed)}, over the memory limit of "
                f"{memory.format_bytes(limit)}"
            )
        else:
            torch_ran, outcome = torch_verdict(spec, input_shape, h0, c0, lengths=lengths)
            torch_error, torch_note = (outcome, None) if torch_ran else (None, outcome)
        if not problems and torch_error is not None:
            hint = f"rnninspect's model accepts these shapes but torch does not: {torch_error}"
            problems.append(
                Problem(
                    "input",
                    None,
                    input_shape,
                    None,
                    "torch's check",
                    hint,
                    expected_text="what torch accepts",
                )
            )
    shapes = {"input": input_shape, "h0": h0, "c0": c0}
    found = versions(torch.__version__)
    read_as = how_read(spec, input_shape)
    return DiagnoseReport(
        read, found, shapes, problems, torch_ran, torch_error, torch_note, read_as
    )
