"""``rnninspect vectors``: golden numbers for ports of torch's recurrent layers.

For one configuration and seed, the numbers verify uses, written to files any language reads:
the input (and the lengths of a packed batch), every parameter under torch's names, the initial
states, the outputs and final states, an upstream gradient for each of them, and the gradients
of the input, the initial states and every parameter. Everything is computed by rnninspect's
float64 reference of torch's equations (never by torch's RNN code); torch's module is then
verified on the same numbers in the chosen dtype, and the manifest records each row's measured
error and the tolerance verify applied, so a port knows how close it must come.

One folder per configuration: ``vectors.npz``, ``vectors.safetensors`` or ``vectors.json``
(shapes and flat row-major lists) and ``manifest.json``, which names every tensor, its role,
shape, dtype and layout, and the rnninspect and torch versions. ``--layout onnx`` and ``keras``
add the parameters in those frameworks' layouts. ``check`` re-derives a folder's numbers from
its manifest and reports every tensor that moved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnninspect import __version__
from rnninspect.base.errors import SpecError
from rnninspect.core.build import example_inputs, result_names, torch_module, upstream_gradients
from rnninspect.files.output import commit_folder, folder_target, staged_folder
from rnninspect.model.shapes import tensor_shapes
from rnninspect.model.spec import DEFAULTS, CellKind, RNNSpec, make_spec
from rnninspect.reference import reference_forward
from rnninspect.reports.vectors import (
    Drift,
    TensorEntry,
    VectorsCheckReport,
    VectorSet,
    VectorsReport,
)

FORMATS = ("npz", "safetensors", "json")
LAYOUTS = ("torch", "onnx", "keras")
FILES = {"npz": "vectors.npz", "safetensors": "vectors.safetensors", "json": "vectors.json"}
#: How close a re-derived float64 tensor must be to count as the same: torch.testing's float64
#: tolerances, so that another BLAS's last bits are not called drift.
SAME_ATOL, SAME_RTOL = 1e-7, 1e-7


def derive(
    spec: RNNSpec, layouts: Sequence[str] = ("torch",)
) -> tuple[dict[str, np.ndarray], list[TensorEntry]]:
    """Every tensor of the configuration, float64 (the lengths int64), and what each is."""
    module = torch_module(spec)
    params = {
        name: value.detach().to(torch.float64).requires_grad_(True)
        for name, value in module.named_parameters()
    }
    inputs = {
        name: value.requires_grad_(True)
        for name, value in example_inputs(spec, dtype=torch.float64).items()
    }
    upstream = upstream_gradients(spec, torch.device("cpu"))
    outputs = reference_forward(spec, params, inputs)
    names = result_names(spec)
    torch.autograd.backward([outputs[name] for name in names], [upstream[name] for name in names])

    dims = {shape.name: shape for shape in tensor_shapes(spec)}
    arrays: dict[str, np.ndarray] = {}
    entries: list[TensorEntry] = []

    def add(name: str, role: str, value: Tensor | np.ndarray, layout: str) -> None:
        array = value.detach().cpu().numpy() if isinstance(value, Tensor) else value
        arrays[name] = np.ascontiguousarray(array)
        entries.append(TensorEntry(name, role, tuple(array.shape), str(array.dtype), layout))

    def described(name: str) -> str:
        return "(" + ", ".join(f"{d.symbol}={d.size}" for d in dims[name].dims) + ")"

    for name, value in inputs.items():
        add(name, "input" if name == "input" else "initial state", value, described(name))
    if spec.lengths is not None:
        lengths = np.array(spec.lengths, dtype=np.int64)
        add("lengths", "lengths", lengths, "(N): each sequence's length, as pack_padded_sequence")
    for name, value in params.items():
        add(f"param:{name}", "parameter", value, _torch_layout(spec, name))
    for name in result_names(spec):
        add(name, "output", outputs[name], described(name))
    for name in result_names(spec):
        add(f"upstream:{name}", "upstream gradient", upstream[name], described(name))
    for name, value in inputs.items():
        assert value.grad is not None
        add(f"grad:{name}", "gradient", value.grad, described(name))
    for name, value in params.items():
        assert value.grad is not None
        add(f"grad:{name}", "gradient", value.grad, _torch_layout(spec, name))
    for layout in layouts:
        if layout == "onnx":
            for name, array, how in _onnx_layout(spec, params):
                add(name, "parameter (onnx layout)", array, how)
        elif layout == "keras":
            for name, array, how in _keras_layout(spec, params):
                add(name, "parameter (keras layout)", array, how)
    return arrays, entries


def _torch_layout(spec: RNNSpec, name: str) -> str:
    gates = {"lstm": "i,f,g,o", "gru": "r,z,n", "rnn": "one gate"}[spec.cell.family]
    if name.startswith("weight_ih"):
        return f"torch: (gates*H, H_in) rows {gates}"
    if name.startswith("weight_hh"):
        return f"torch: (gates*H, H_out) rows {gates}"
    if name.startswith("weight_hr"):
        return "torch: (proj_size, H)"
    return f"torch: (gates*H) {gates}"


def _onnx_layout(spec: RNNSpec, params: Mapping[str, Tensor]) -> list[tuple[str, np.ndarray, str]]:
    from rnninspect.reference.onnx_torch import onnx_weights

    if spec.proj_size:
        raise SpecError("--layout onnx: an LSTM with proj_size has no ONNX operator")
    gates = {"lstm": "i,o,f,c", "gru": "z,r,h", "rnn": "one gate"}[spec.cell.family]
    how = {
        "W": f"onnx: (D, gates*H, input) rows {gates}",
        "R": f"onnx: (D, gates*H, H) rows {gates}",
        "B": f"onnx: (D, 2*gates*H) = [Wb, Rb] {gates}",
    }
    layers = 1 if spec.cell.is_cell else spec.num_layers
    found = []
    for layer in range(layers):
        for key, value in onnx_weights(spec, params, layer).items():
            found.append((f"onnx:{key}_l{layer}", value.detach().numpy(), how[key]))
    return found


def _keras_layout(spec: RNNSpec, params: Mapping[str, Tensor]) -> list[tuple[str, np.ndarray, str]]:
    from rnninspect.commands.keras.mapping import keras_weights, refuse

    try:
        refuse(spec, True)
    except SpecError as exc:
        raise SpecError(f"--layout keras: {exc}") from None
    state = {name: value.detach().numpy() for name, value in params.items()}
    gates = {"lstm": "i,f,c,o", "gru": "z,r,h", "rnn": "one gate"}[spec.cell.family]
    found = []
    for layer, weights in enumerate(keras_weights(spec, state)):
        names = (
            ["kernel", "recurrent_kernel", "bias"] if spec.bias else ["kernel", "recurrent_kernel"]
        )
        per_direction = len(names)
        for index, value in enumerate(weights):
            direction = ("forward", "backward")[index // per_direction]
            which = names[index % per_direction]
            how = f"keras: set_weights order, columns {gates}"
            found.append((f"keras:layer{layer}/{direction}/{which}", np.asarray(value), how))
    return found


# ------------------------------------------------------------------------------ writing


def write(
    cases: Sequence[tuple[str, RNNSpec, str]],
    folder: str | Path,
    fmt: str = "npz",
    layouts: Sequence[str] = ("torch",),
    progress: Callable[[int, int], None] | None = None,
) -> VectorsReport:
    """Each (name, spec, dtype) into a folder of its own (one case: DIR itself), staged beside
    DIR and renamed into place when every file is there."""
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt}: the vector formats are {', '.join(FORMATS)}")
    target = folder_target(folder, "-o")
    sets = []
    with staged_folder(target, "-o") as staging:
        for index, (name, spec, dtype) in enumerate(cases):
            shown = target.name if len(cases) == 1 else _folder_name(name)
            where = staging if len(cases) == 1 else staging / shown
            where.mkdir(exist_ok=True)
            sets.append(_write_one(where, shown, name, spec, dtype, fmt, layouts))
            if progress is not None:
                progress(index + 1, len(cases))
        commit_folder(staging, target, "-o")
    return VectorsReport(folder=str(folder), format=fmt, layouts=tuple(layouts), sets=tuple(sets))


def _folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_") or "case"


def _write_one(
    where: Path,
    shown: str,
    name: str,
    spec: RNNSpec,
    dtype: str,
    fmt: str,
    layouts: Sequence[str],
) -> VectorSet:
    from rnninspect.commands.verify.verification import verify
    from rnninspect.core.options import VerifyOptions

    arrays, entries = derive(spec, layouts)
    report = verify(spec, VerifyOptions(dtype=dtype, timing=False))
    rows = [
        {
            "tensor": row.tensor,
            "max_abs_err": _finite(row.comparison.max_abs_err),
            "atol": row.tolerance.atol,
            "rtol": row.tolerance.rtol,
            "noise_floor": row.noise_floor,
            "verdict": row.verdict,
        }
        for row in report.rows
    ]
    file = FILES[fmt]
    _save(where / file, arrays, fmt)
    manifest = {
        "generator": f"rnninspect {__version__} vectors",
        "versions": {"rnninspect": __version__, "torch": torch.__version__},
        "name": name,
        "spec": spec.to_spec_string(),
        "config": spec.to_dict(),
        "file": file,
        "format": fmt,
        "encoding": _encoding(fmt),
        "computed_by": "rnninspect's float64 reference of torch's equations (autograd for the "
        "gradients); the loss whose gradients these are is the sum over the outputs of "
        "output * upstream",
        "layouts": list(layouts),
        "tensors": [entry.to_dict() for entry in entries],
        "torch_module": {
            "dtype": dtype,
            "verdict": report.verdict,
            "rows": rows,
            "rule": "|actual - expected| <= atol * max(1, max|expected|) + rtol * |expected|",
        },
    }
    (where / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return VectorSet(
        name=name,
        folder=shown,
        spec=spec.to_spec_string(),
        dtype=dtype,
        tensors=tuple(entries),
        torch_verdict=report.verdict,
        worst_torch_error=max((float(r["max_abs_err"] or 0.0) for r in rows), default=0.0),
    )


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _encoding(fmt: str) -> str:
    return {
        "npz": "numpy .npz: one array per tensor under its name",
        "safetensors": "safetensors: one tensor per name, little-endian, row-major",
        "json": 'JSON: {"tensors": {name: {"shape", "dtype", "data"}}}, data the row-major '
        "flattening of the tensor, each float written to round-trip exactly",
    }[fmt]


def _save(path: Path, arrays: Mapping[str, np.ndarray], fmt: str) -> None:
    if fmt == "npz":
        with path.open("wb") as handle:
            np.savez(handle, **dict(arrays))  # type: ignore[arg-type]
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(dict(arrays), str(path), metadata={"generator": f"rnninspect {__version__}"})
    else:
        tensors = {
            name: {
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                "data": value.reshape(-1).tolist(),
            }
            for name, value in arrays.items()
        }
        path.write_text(json.dumps({"tensors": tensors}) + "\n")


def load(path: Path, fmt: str) -> dict[str, np.ndarray]:
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as found:
            return {name: found[name] for name in found.files}
    if fmt == "safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(str(path)))
    document = json.loads(path.read_text())
    return {
        name: np.array(entry["data"], dtype=entry["dtype"]).reshape(entry["shape"])
        for name, entry in document["tensors"].items()
    }


# ------------------------------------------------------------------------------ checking


def check(folder: str | Path) -> VectorsCheckReport:
    """Every vector set under ``folder`` (a folder with a manifest.json, or a folder of
    them), re-derived from its manifest and compared tensor by tensor."""
    root = Path(folder)
    manifests = [root / "manifest.json"] if (root / "manifest.json").is_file() else []
    manifests = manifests or sorted(root.glob("*/manifest.json"))
    if not manifests:
        raise SpecError(f"--check {folder}: no manifest.json in it or in its folders")
    found = []
    for manifest_path in manifests:
        try:
            manifest = json.loads(manifest_path.read_text())
            config = dict(manifest["config"])
            fmt, file = manifest["format"], manifest["file"]
            layouts = manifest.get("layouts", ["torch"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpecError(f"--check {manifest_path}: not a vectors manifest ({exc})") from None
        spec = spec_of(config, manifest_path)
        stored = load(manifest_path.parent / file, fmt)
        derived, _ = derive(spec, layouts)
        drifts = []
        for name in sorted(set(stored) | set(derived)):
            drifts.append(_drift(name, stored.get(name), derived.get(name)))
        found.append((str(manifest.get("name", manifest_path.parent.name)), tuple(drifts)))
    versions = {"rnninspect": __version__, "torch": torch.__version__}
    return VectorsCheckReport(str(folder), versions, tuple(found))


def spec_of(config: dict[str, Any], where: Path) -> RNNSpec:
    """The configuration a manifest recorded (its ``config``, as ``RNNSpec.to_dict`` wrote it),
    validated again as a SPEC would be."""
    try:
        lengths = config.get("lengths")
        recorded = RNNSpec(
            **{
                **config,
                "cell": CellKind(config["cell"]),
                "lengths": None if lengths is None else tuple(lengths),
            }
        )
        values = recorded.to_dict()
        changed = {key: value for key, value in values.items() if value != DEFAULTS.get(key)}
        return make_spec(**{**changed, "cell": recorded.cell})
    except (TypeError, ValueError, KeyError) as exc:
        raise SpecError(f"--check {where}: its config is not a configuration ({exc})") from None


def _drift(name: str, stored: np.ndarray | None, derived: np.ndarray | None) -> Drift:
    if stored is None or derived is None:
        said = "not in the file" if stored is None else "no longer derived"
        return Drift(name, None, said)
    if stored.shape != derived.shape:
        return Drift(name, None, f"shape {list(stored.shape)}, now {list(derived.shape)}")
    difference = float(
        np.abs(stored.astype(np.float64) - derived.astype(np.float64)).max(initial=0)
    )
    if difference == 0:
        return Drift(name, 0.0, "identical")
    scale = float(np.abs(derived).max(initial=0))
    if difference <= SAME_ATOL * max(1.0, scale) + SAME_RTOL * scale:
        return Drift(name, difference, "same within float64 rounding")
    return Drift(name, difference, "drifted")
