"""The real torch module for a spec, its example input and initial state, and one forward pass.

Weights and inputs are drawn on the CPU from the spec's seed and then moved, so the same seed
gives the same numbers on every device, and the caller's global random state is left as it was.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnninspect.model.shapes import tensor_shapes
from rnninspect.model.spec import RNNSpec

#: The tensors a forward pass takes, by the contract's names.
STATE_NAMES = ("h0", "c0")


def torch_module(
    spec: RNNSpec,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    weight_scale: float = 1.0,
) -> nn.Module:
    """Build ``torch.nn.<Class>(**spec)`` with torch's own initialisation, seeded by the spec.

    ``weight_scale`` multiplies every parameter of that initialisation, to reach the saturated
    and chaotic regimes that trained weights reach.
    """
    cls = getattr(nn, spec.cell.torch_name)
    if str(device) == "meta":  # shapes only: built where nothing is allocated or computed
        with torch.device("meta"):
            meta: nn.Module = cls(**spec.constructor_kwargs(), dtype=dtype)
        return meta
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        module: nn.Module = cls(**spec.constructor_kwargs())
    if weight_scale != 1.0:
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.mul_(weight_scale)
    return module.to(device=device, dtype=dtype)


def example_inputs(
    spec: RNNSpec,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    zero_state: bool = False,
) -> dict[str, Tensor]:
    """The input and initial state(s), standard normal unless ``zero_state``.

    The initial state is non-zero by default so that the h0/c0 path of the module is exercised.
    On the ``meta`` device they have their shapes and no values.
    """
    generator = torch.Generator().manual_seed(spec.seed + 1)
    tensors: dict[str, Tensor] = {}
    for shape in tensor_shapes(spec):
        if shape.name != "input" and shape.name not in STATE_NAMES:
            continue
        if str(device) == "meta":  # shapes only: no numbers
            tensors[shape.name] = torch.empty(shape.shape, device="meta", dtype=dtype)
            continue
        if shape.name in STATE_NAMES and zero_state:
            value = torch.zeros(shape.shape, dtype=torch.float64)
        else:
            value = torch.randn(shape.shape, generator=generator, dtype=torch.float64)
        tensors[shape.name] = value.to(device=device, dtype=dtype)
    return tensors


def upstream_gradients(spec: RNNSpec, device: torch.device) -> dict[str, Tensor]:
    """The same random upstream gradient for every side, one per result, from the spec's seed."""
    generator = torch.Generator().manual_seed(spec.seed + 2)
    results = [t for t in tensor_shapes(spec) if t.name in RESULT_NAMES]
    return {
        t.name: torch.randn(t.shape, generator=generator, dtype=torch.float64).to(device)
        for t in results
    }


#: What a forward pass returns, by the contract's names (the packed views are not compared).
RESULT_NAMES = ("output", "h_n", "c_n", "h1", "c1")


def result_names(spec: RNNSpec) -> tuple[str, ...]:
    """What one forward pass returns, by the contract's names, in torch's order: ``output``,
    ``h_n`` (and ``c_n``); for a Cell ``h1`` (and ``c1``)."""
    if spec.cell.is_cell:
        return ("h1", "c1") if spec.has_cell_state else ("h1",)
    return ("output", "h_n", "c_n") if spec.has_cell_state else ("output", "h_n")


def packed_input(spec: RNNSpec, inputs: Mapping[str, Tensor]) -> Tensor | PackedSequence:
    """The input as the module takes it: packed with ``spec.lengths``
    (``pack_padded_sequence(..., enforce_sorted=False)``), else as it is."""
    if spec.lengths is None:
        given: Tensor = inputs["input"]
        return given
    return pack_padded_sequence(
        inputs["input"],
        torch.tensor(spec.lengths),
        batch_first=spec.batch_first,
        enforce_sorted=False,
    )


def run_module(
    module: nn.Module, spec: RNNSpec, inputs: dict[str, Tensor], keep_packed: bool = False
) -> dict[str, Tensor]:
    """One forward pass of a torch-style module; the results by the contract's tensor names.

    With ``spec.lengths`` the input is packed with ``pack_padded_sequence(...,
    enforce_sorted=False)`` and the output padded back to ``seq_len`` steps; ``keep_packed``
    adds ``packed_input.data``, ``packed_input.batch_sizes`` and ``packed_output.data``.
    """
    state: Tensor | tuple[Tensor, Tensor] = inputs["h0"]
    if spec.has_cell_state:
        state = (inputs["h0"], inputs["c0"])
    given = packed_input(spec, inputs)
    packed = given if isinstance(given, PackedSequence) else None
    result = module(given, state)
    check_structure(result, spec)
    if spec.cell.is_cell:
        values = result if spec.has_cell_state else (result,)
        return dict(zip(result_names(spec), values, strict=True))
    output, final = result
    extras: dict[str, Tensor] = {}
    if isinstance(output, PackedSequence):
        if keep_packed and packed is not None:
            extras = {
                "packed_input.data": packed.data,
                "packed_input.batch_sizes": packed.batch_sizes,
                "packed_output.data": output.data,
            }
        output = _padded(output, spec)
    if spec.has_cell_state:
        h_n, c_n = final
        return {**extras, "output": output, "h_n": h_n, "c_n": c_n}
    return {**extras, "output": output, "h_n": final}


def _padded(output: PackedSequence, spec: RNNSpec) -> Tensor:
    """``pad_packed_sequence`` of the output, back to ``seq_len`` steps in the module's layout.

    On the meta device, torch's own padding op and index_select give the shape, since
    ``pad_packed_sequence`` itself copies its lengths to the CPU, which meta tensors refuse.
    """
    if not output.data.is_meta:
        padded, _ = pad_packed_sequence(
            output, batch_first=spec.batch_first, total_length=spec.seq_len
        )
        return padded
    meta: Tensor = torch.ops.aten._pad_packed_sequence(
        output.data, output.batch_sizes, spec.batch_first, 0.0, spec.seq_len
    )[0]
    if output.unsorted_indices is not None:
        meta = meta.index_select(0 if spec.batch_first else 1, output.unsorted_indices)
    return meta


class UnexpectedResult(Exception):
    """A forward pass that returned something other than what torch's module returns."""


def expected_structure(spec: RNNSpec) -> str:
    """What torch's forward returns for this spec, written as Python would unpack it."""
    if spec.cell.is_cell:
        return "(h1, c1)" if spec.has_cell_state else "h1"
    output = "output" if spec.lengths is None else "output (a PackedSequence)"
    return f"({output}, (h_n, c_n))" if spec.has_cell_state else f"({output}, h_n)"


def describe_structure(value: object) -> str:
    """What a forward returned, briefly: ``(Tensor[5, 3, 20], Tensor[1, 3, 20])``."""
    if isinstance(value, Tensor):
        return f"Tensor{list(value.shape)}"
    if isinstance(value, PackedSequence):
        return "PackedSequence"
    if isinstance(value, tuple | list):
        inner = ", ".join(describe_structure(item) for item in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"({inner}{more})" if isinstance(value, tuple) else f"[{inner}{more}]"
    return "None" if value is None else f"a {type(value).__name__}"


def check_structure(result: object, spec: RNNSpec) -> None:
    """Raise :class:`UnexpectedResult` unless ``result`` is shaped as torch's forward returns."""

    def pair(value: object) -> bool:
        return (
            isinstance(value, tuple | list)
            and not isinstance(value, PackedSequence)
            and len(value) == 2
        )

    def state(value: object) -> bool:
        if spec.has_cell_state:
            return pair(value) and all(isinstance(v, Tensor) for v in value)  # type: ignore[attr-defined]
        return isinstance(value, Tensor)

    if spec.cell.is_cell:
        fits = state(result)
    else:
        fits = (
            pair(result)
            and isinstance(result[0], Tensor | PackedSequence)  # type: ignore[index]
            and state(result[1])  # type: ignore[index]
        )
    if not fits:
        raise UnexpectedResult(
            f"returned {describe_structure(result)}, where nn.{spec.cell.torch_name}'s forward "
            f"returns {expected_structure(spec)}"
        )


@contextmanager
def torch_warnings() -> Iterator[list[str]]:
    """Collect the warnings torch raises inside the block, once each, as one-line messages."""
    collected: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield collected
    for item in caught:
        message = " ".join(str(item.message).split())
        message = re.sub(r"\s*\(Triggered internally at [^)]*\)", "", message)
        if message not in collected:
            collected.append(message)
