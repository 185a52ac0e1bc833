"""Reading checkpoints safely: weights only, size checked first, nothing in the file executed.

``.npz`` files (numpy.savez) are read with ``allow_pickle=False``, each array's size read from
its header first. TorchScript archives are recognised and refused with the way to a state_dict.
``.pt``/``.pth``/``.bin`` (torch.save) go through ``torch.load(..., weights_only=True)``, with
``weights_only=True`` passed explicitly: an inherited ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
turns off only the default, never an explicit choice. There is no fallback to plain unpickling.
Before the real load, the bytes it would allocate are counted (the archive's uncompressed sizes,
and every tensor's size read on the meta device) and refused past the memory limit: a small
re-compressed file can expand to gigabytes. ``.safetensors`` files are read with the safetensors
package, whose header gives every shape before any data is read.
"""

from __future__ import annotations

import math
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnninspect.base.errors import CheckpointError as CheckpointError
from rnninspect.base.errors import RNNInspectError
from rnninspect.base.text import exception_line, printable
from rnninspect.model import memory

#: torch releases that fixed published bypasses of weights-only loading.
SAFE_TORCH = (2, 10)


def torch_version_warning() -> str | None:
    """A warning when this torch predates the fixes for weights-only loading bypasses."""
    parts = torch.__version__.split("+")[0].split(".")
    try:
        version = (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        return None
    if version >= SAFE_TORCH:
        return None
    return (
        f"torch {torch.__version__} predates fixes for published bypasses of weights-only "
        "loading (CVE-2025-32434, fixed in 2.6; CVE-2026-24747, fixed in 2.10): prefer "
        ".safetensors for checkpoints from untrusted sources"
    )


def load_tensors(path: Path, limit: int | None = None) -> dict[str, Tensor]:
    """Every tensor in a checkpoint, by its dotted path (``model.encoder.rnn.weight_ih_l0``).

    State dicts nested in the usual checkpoint shapes (``{"model": ..., "optimizer": ...}``,
    ``{"state_dict": ...}``, a bare state dict) are all found; the containers' keys become part
    of the path.
    """
    _readable(path)
    limit = memory.default_limit() if limit is None else limit
    if path.suffix == ".safetensors":
        return _load_safetensors(path, limit)
    if path.suffix == ".npz":
        return _load_npz(path, limit)
    _torch_format(path)
    _refuse_torchscript(path)
    needed = _torch_bytes(path, _torch_load(path, "meta"))
    memory.check(needed, limit, f"loading {path.name}")
    data = _torch_load(path, "cpu")
    return dict(_flatten(data, ""))


def load_shapes(path: Path, limit: int | None = None) -> dict[str, Tensor]:
    """Every tensor in a checkpoint as :func:`load_tensors` finds it, but on the meta device:
    shapes and dtypes, and no data read or allocated (what ``infer`` needs). A checkpoint
    whose tensors would load past ``limit`` is still refused, as ``--weights`` would refuse it."""
    _readable(path)
    limit = memory.default_limit() if limit is None else limit
    if path.suffix == ".safetensors":
        return _load_safetensors(path, limit, meta=True)
    if path.suffix == ".npz":
        return _load_npz(path, limit, meta=True)
    _torch_format(path)
    _refuse_torchscript(path)
    shapes = _torch_load(path, "meta")
    memory.check(_torch_bytes(path, shapes), limit, f"loading {path.name}")
    return dict(_flatten(shapes, ""))


def _readable(path: Path) -> None:
    """Refuse, in words, a path that is not a regular file this process can read."""
    from rnninspect.files.output import unreadable

    problem = unreadable(path)
    if problem is not None:
        raise CheckpointError(f"{path}: {problem}")


def _torch_format(path: Path) -> None:
    """Refuse a file that is neither of torch.save's formats (a zip archive, or a pickle for the
    legacy format), saying what it looks like instead: text, or other bytes."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if zipfile.is_zipfile(path) or head[:1] == b"\x80":
        return
    if not head:
        raise CheckpointError(f"{path}: is empty, not a torch checkpoint")
    try:
        head.decode("utf-8")
        looks = "holds text"
    except UnicodeDecodeError:
        looks = "holds bytes of another format"
    raise CheckpointError(
        f"{path}: {looks}, not a torch checkpoint (torch.save writes a zip archive; rnninspect "
        "also reads .safetensors and .npz files by their ending)"
    )


def dense(value: Tensor, key: str, path: str | Path) -> Tensor:
    """A weight as a module takes it: dense, floating point, contiguous; else a clear refusal
    that names the key (a sparse or quantized tensor would crash ``load_state_dict``)."""
    where = f"{path}: {printable(key)}"
    if value.layout != torch.strided:
        raise CheckpointError(f"{where} holds a {value.layout} tensor, not a dense weight")
    if value.is_quantized or not value.is_floating_point():
        raise CheckpointError(f"{where} holds {value.dtype} values, not floating-point weights")
    return value.contiguous()


def _torch_load(path: Path, device: str) -> Any:
    """``torch.load`` with weights only; torch's warnings are kept from the terminal (the
    refusal says what matters in one line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(path, weights_only=True, map_location=device)
        except Exception as exc:
            raise CheckpointError(f"{path}: {_refusal(exc)}") from None


def _refuse_torchscript(path: Path) -> None:
    """A TorchScript archive (``torch.jit.save``) holds code as well as tensors: say so."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return
    if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
        raise CheckpointError(
            f"{path}: a TorchScript archive (torch.jit.save), not a checkpoint of tensors; "
            "save its weights with torch.save(torch.jit.load(PATH).state_dict(), 'weights.pt') "
            "and read that"
        )


def _torch_bytes(path: Path, shapes: Any) -> int:
    """Bytes a real load would allocate, found without allocating them (``shapes``: the
    checkpoint loaded on the meta device)."""
    archive = 0
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                archive = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable torch.save archive: {exc}") from None
    tensors = sum(t.numel() * t.element_size() for _, t in _flatten(shapes, ""))
    return max(archive, tensors, path.stat().st_size)


def _refusal(exc: BaseException) -> str:
    """Why loading failed, in a line; never torch's advice to retry with weights_only=False."""
    text = exception_line(exc, named=False)
    if text.startswith("Weights only load failed"):
        reason = text.split("trusted source.", 1)[-1]
        reason = reason.split("Check the documentation of torch.load")[0]
        reason = reason.split("WeightsUnpickler error:")[-1].strip(" .:")
        if "GLOBAL" in reason or "global" in reason:
            found = re.search(r"GLOBAL ([\w.]+)", reason)
            name = found.group(1) if found else "an object"
            if name.startswith("torch.nn.modules."):
                return (
                    f"a pickled module ({name}), not a checkpoint of tensors; nothing in it was "
                    "run. Save its weights instead: torch.save(model.state_dict(), 'weights.pt') "
                    "or safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')"
                )
            return (
                f"weights-only loading refused it: it holds a pickled {name}, more than "
                "tensors and plain containers, and nothing in it was run; save a state_dict "
                "(torch.save(model.state_dict(), 'weights.pt')) instead"
            )
        return f"cannot read it as a torch checkpoint (weights-only unpickler: {reason[:200]})"
    return f"cannot read it as a torch checkpoint: {type(exc).__name__}: {text[:200]}"


def _load_npz(path: Path, limit: int, meta: bool = False) -> dict[str, Tensor]:
    """A numpy ``.npz`` (``numpy.savez``): arrays by name, never unpickled; each array's header
    gives its size before any data is read (and, with ``meta``, all that is read)."""
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf:
            needed = 0
            headers = {}
            for info in zf.infolist():
                with zf.open(info) as handle:
                    major, _ = np.lib.format.read_magic(handle)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(handle)
                needed += math.prod(shape) * dtype.itemsize
                headers[info.filename.removesuffix(".npy")] = (shape, dtype)
        memory.check(needed, limit, f"loading {path.name}")
        if meta:
            return {name: _meta_array(path, name, *header) for name, header in headers.items()}
        with np.load(path, allow_pickle=False) as arrays:
            tensors = {}
            for name in arrays.files:
                value = arrays[name]
                if value.dtype.kind not in "fiub":
                    raise CheckpointError(f"{path}: {name} holds {value.dtype} values, not numbers")
                tensors[name] = torch.from_numpy(np.ascontiguousarray(value))
            return tensors
    except RNNInspectError:
        raise
    except Exception as exc:
        text = exception_line(exc, named=False)
        raise CheckpointError(f"{path}: not a readable .npz file: {text[:300]}") from None


def _meta_array(path: Path, name: str, shape: tuple[int, ...], dtype: Any) -> Tensor:
    import numpy as np

    if dtype.kind == "O":
        raise CheckpointError(
            f"{path}: {name} holds pickled Python objects, which are never unpickled "
            "(allow_pickle=False), not numbers"
        )
    if dtype.kind not in "fiub":
        raise CheckpointError(f"{path}: {name} holds {dtype} values, not numbers")
    kind = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    return torch.empty(shape, dtype=kind, device="meta")


def _load_safetensors(path: Path, limit: int, meta: bool = False) -> dict[str, Tensor]:
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError(
            "reading .safetensors needs the safetensors package: pip install safetensors"
        ) from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            keys = list(handle.keys())
            needed = 0
            for key in keys:
                piece = handle.get_slice(key)
                size = _DTYPE_SIZES.get(piece.get_dtype(), 8)
                needed += math.prod(piece.get_shape()) * size
            memory.check(needed, limit, f"loading {path.name}")
            if meta:
                return {key: _meta_slice(handle.get_slice(key)) for key in keys}
            return {key: handle.get_tensor(key) for key in keys}
    except RNNInspectError:
        raise
    except Exception as exc:
        text = exception_line(exc, named=False)
        raise CheckpointError(f"{path}: not a readable .safetensors file: {text[:300]}") from None


def _meta_slice(piece: Any) -> Tensor:
    kind = _SAFETENSORS_DTYPES.get(piece.get_dtype(), torch.float32)
    return torch.empty(piece.get_shape(), dtype=kind, device="meta")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}

_DTYPE_SIZES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def _flatten(value: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, Tensor]]:
    """Tensors in nested dicts, lists and tuples, by dotted path; other values are skipped."""
    if isinstance(value, Tensor):
        yield prefix, value
        return
    if depth > 8:
        return
    items: Any = ()
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        yield from _flatten(item, name, depth + 1)
