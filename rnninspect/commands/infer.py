"""``rnninspect infer``: the recurrent modules in a checkpoint, and the settings that built them.

Keys are grouped by module prefix (``encoder.rnn.weight_ih_l0`` belongs to ``encoder.rnn``).
For each group the cell follows from the ratio of gate rows to hidden size (1 RNN, 3 GRU, 4
LSTM), and input_size, hidden_size, num_layers, bias, bidirectional and proj_size from the
shapes; every shape is then checked against what torch would build for those settings. A group
that no torch module produces (a missing layer, shapes that disagree) is reported as
inconsistent, never guessed. Weights do not record nonlinearity, batch_first or dropout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnninspect.base.text import printable
from rnninspect.files.reparam import related
from rnninspect.model.shapes import parameter_shapes
from rnninspect.model.spec import MAX_LAYERS, RNNSpec, SpecError, make_spec, parse_spec
from rnninspect.reports.common import versions
from rnninspect.reports.infer import RECORDED, Inconsistent, Inferred, InferReport

if TYPE_CHECKING:
    from torch import Tensor

_KEY = re.compile(
    r"^(?:(?P<prefix>.*)\.)?(?P<param>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
    r"(?P<tag>_l(?P<layer>\d+)(?P<reverse>_reverse)?)?$"
)
_CELLS = {1: "rnn", 3: "gru", 4: "lstm"}


def infer_modules(shapes: Mapping[str, tuple[int, ...]]) -> list[Inferred | Inconsistent]:
    """Every recurrent module among the named shapes, in the order their keys first appear."""
    groups: dict[tuple[str, bool], dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        match = _KEY.match(key)
        if match is None:
            continue
        prefix = match.group("prefix") or ""
        layered = match.group("tag") is not None
        local = key[len(prefix) + 1 :] if prefix else key
        groups.setdefault((prefix, layered), {})[local] = shape
    results: list[Inferred | Inconsistent] = []
    for (prefix, layered), params in groups.items():
        try:
            spec = _sequence(params) if layered else _cell(params)
            _check(spec, params)
        except _Mismatch as exc:
            problem = str(exc)
            missing = re.match(r"^(\w+) is missing", problem)
            if missing:
                problem += related(list(shapes), prefix, missing.group(1))
            results.append(Inconsistent(prefix, problem))
            continue
        unknown = ["batch_first", "dropout"] if layered else []
        if spec.cell.family == "rnn":
            unknown.insert(0, "nonlinearity")
        results.append(Inferred(prefix, spec, dict(params), tuple(unknown)))
    return results


class _Mismatch(Exception):
    pass


def _two_d(params: Mapping[str, tuple[int, ...]], name: str) -> tuple[int, int]:
    shape = params.get(name)
    if shape is None:
        raise _Mismatch(f"{name} is missing")
    if len(shape) != 2:
        raise _Mismatch(f"{name} has shape {list(shape)}, not a matrix")
    return shape[0], shape[1]


def _gates(rows: int, hidden: int, name: str) -> str:
    if hidden <= 0 or rows % hidden or rows // hidden not in _CELLS:
        raise _Mismatch(
            f"{name} has {rows} rows for hidden size {hidden}: not 1, 3 or 4 gates (RNN, GRU, LSTM)"
        )
    return _CELLS[rows // hidden]


def _sequence(params: Mapping[str, tuple[int, ...]]) -> RNNSpec:
    indices = {m.group("layer") for k in params if (m := _KEY.match(k))}
    for index in indices:
        if len(index) > len(str(MAX_LAYERS)) or int(index) >= MAX_LAYERS:
            shown = index if len(index) <= 12 else f"{index[:12]}... ({len(index)} digits)"
            raise _Mismatch(
                f"layer index {shown} cannot be a real module (at most {MAX_LAYERS} layers)"
            )
    layers = sorted(int(index) for index in indices)
    if layers != list(range(len(layers))):
        missing = sorted(set(range(max(layers) + 1)) - set(layers))
        raise _Mismatch(f"layer {missing[0]} is missing (found layers {layers})")
    reverse = {k for k in params if k.endswith("_reverse")}
    bidirectional = bool(reverse)
    rows, out_size = _two_d(params, "weight_hh_l0")
    _, input_size = _two_d(params, "weight_ih_l0")
    proj_size, hidden = 0, out_size
    if "weight_hr_l0" in params:
        proj_size, hidden = _two_d(params, "weight_hr_l0")
    cell = _gates(rows, hidden, "weight_hh_l0")
    try:
        return make_spec(
            cell=cell,
            input_size=input_size,
            hidden_size=hidden,
            num_layers=len(layers),
            bias="bias_ih_l0" in params,
            bidirectional=bidirectional,
            proj_size=proj_size,
        )
    except SpecError as exc:
        raise _Mismatch(str(exc)) from None


def _cell(params: Mapping[str, tuple[int, ...]]) -> RNNSpec:
    rows, hidden = _two_d(params, "weight_hh")
    _, input_size = _two_d(params, "weight_ih")
    cell = _gates(rows, hidden, "weight_hh") + "_cell"
    try:
        return make_spec(
            cell=cell, input_size=input_size, hidden_size=hidden, bias="bias_ih" in params
        )
    except SpecError as exc:
        raise _Mismatch(str(exc)) from None


def _check(spec: RNNSpec, params: Mapping[str, tuple[int, ...]]) -> None:
    """Every parameter torch would build is present with its shape, and nothing else is."""
    expected = {p.name: p.shape for p in parameter_shapes(spec)}
    for name, shape in expected.items():
        if name not in params:
            raise _Mismatch(f"{name} is missing for {spec.to_spec_string()}")
        if tuple(params[name]) != shape:
            raise _Mismatch(
                f"{name} has shape {list(params[name])}; {spec.to_spec_string()} has {list(shape)}"
            )
    for name in params:
        if name not in expected:
            raise _Mismatch(f"{name} does not belong to {spec.to_spec_string()}")


def select(modules: list[Inferred | Inconsistent], prefix: str | None, path: str) -> Inferred:
    """The module ``--prefix`` names, or the only one in the file."""
    if prefix is not None:
        for module in modules:
            if module.prefix == prefix:
                if isinstance(module, Inconsistent):
                    problem = module.problem
                    raise SpecError(f"--prefix {prefix!r} in {path} is inconsistent: {problem}")
                return module
        known = ", ".join(repr(printable(m.prefix)) for m in modules) or "none"
        raise SpecError(f"--prefix {prefix!r}: no recurrent module there in {path} (found {known})")
    found = [m for m in modules if isinstance(m, Inferred)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise SpecError(f"--weights {path}: no recurrent module in it")
    known = ", ".join(repr(printable(m.prefix)) for m in found)
    raise SpecError(
        f"--weights {path} holds {len(found)} recurrent modules: choose one with --prefix ({known})"
    )


def spec_with_weights(module: Inferred, given: Mapping[str, Any]) -> RNNSpec:
    """The module's recorded settings, with the given ones filling in what weights do not
    record; a given setting that contradicts the weights is refused."""
    recorded = {key: value for key, value in module.spec.to_dict().items() if key in RECORDED}
    if module.spec.cell.is_cell:
        recorded = {k: v for k, v in recorded.items() if k not in ("num_layers", "bidirectional")}
    for key, value in given.items():
        if key in recorded and value != recorded[key]:
            raise SpecError(
                f"{key} {value!r} disagrees with the weights, which record {key} {recorded[key]!r}"
            )
    return make_spec(**{**given, **recorded})


def infer_file(path: str | Path, max_memory: int | None = None) -> InferReport:
    """Every recurrent module in a checkpoint (``.pt``, ``.pth``, ``.bin``, ``.safetensors``,
    ``.npz``), weights stored through torch's reparametrisations rebuilt."""
    import torch

    from rnninspect.files.checkpoint import load_shapes
    from rnninspect.files.reparam import rebuild

    tensors, notes = rebuild(load_shapes(Path(path), max_memory))
    shapes = {name: tuple(value.shape) for name, value in tensors.items()}
    found = infer_modules(shapes)
    return InferReport(str(path), versions(torch.__version__), found, len(shapes), notes)


def trained_weights(
    path: str | Path,
    prefix: str | None,
    spec_text: str | None,
    given: Mapping[str, Any],
    max_memory: int | None = None,
) -> tuple[RNNSpec, dict[str, Tensor]]:
    """``--weights FILE --prefix P``: the module's configuration (weights first, the given
    settings for what they do not record) and its state dict under torch's own names."""
    from rnninspect.files.checkpoint import dense, load_tensors
    from rnninspect.files.reparam import rebuild

    tensors, _ = rebuild(load_tensors(Path(path), max_memory))
    shapes = {name: tuple(value.shape) for name, value in tensors.items()}
    module = select(infer_modules(shapes), prefix, str(path))
    settings = {key: value for key, value in given.items() if value is not None}
    if spec_text is not None:
        cell, from_spec = parse_spec(spec_text)
        settings = {"cell": cell.value, **from_spec, **settings}
    spec = spec_with_weights(module, settings)
    start = f"{module.prefix}." if module.prefix else ""
    state = {name: dense(tensors[start + name], start + name, path) for name in module.shapes}
    return spec, state
