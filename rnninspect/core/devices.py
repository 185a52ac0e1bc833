"""Which device and dtype a run uses, whether this machine has them, and TF32 on CUDA."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from rnninspect.base.errors import Unavailable as Unavailable
from rnninspect.model import memory
from rnninspect.model.spec import SpecError

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def synchronizer(device: torch.device) -> Callable[[], None] | None:
    """What waits for the work queued on ``device``, for a timer: None on the CPU, where a call
    returns when its work is done."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return None


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (the best one here) as a device.

    An unknown name is bad input (:class:`SpecError`); a known device that this machine or
    this torch build lacks is :class:`Unavailable`.
    """
    name = name.strip().lower()
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps|auto", name):
        raise SpecError(f"--device must be cpu, cuda, cuda:N, mps or auto, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise Unavailable(
                f"--device {name}: this torch build ({torch.__version__}) has no CUDA support"
            )
        if not torch.cuda.is_available():
            raise Unavailable(f"--device {name}: torch sees no CUDA device on this machine")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise Unavailable(
                f"--device {name}: this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise Unavailable(
            f"--device {name}: MPS is not available (it needs Apple silicon and macOS)"
        )
    return device


def dtype_named(name: object) -> torch.dtype:
    """A dtype by its name in :data:`DTYPES`; any other name is bad input (exit 2)."""
    if not isinstance(name, str) or name not in DTYPES:
        raise SpecError(f"--dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """A dtype by name, refused where the device cannot compute in it."""
    dtype = dtype_named(name)
    if device.type == "mps" and dtype == torch.float64:
        raise Unavailable("--dtype float64: the MPS backend has no float64")
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise Unavailable(f"--dtype bfloat16: {torch.cuda.get_device_name(device)} lacks bfloat16")
    return dtype


def reference_device(device: torch.device) -> torch.device:
    """Where the float64 reference runs: the same device, except MPS, which has no float64."""
    return torch.device("cpu") if device.type == "mps" else device


@contextmanager
def tf32(allowed: bool) -> Iterator[None]:
    """Allow or forbid TF32 for matmuls and cuDNN inside the block, then restore the settings."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def memory_limit(device: torch.device, given: int | None) -> int:
    """The memory a run may take: ``--max-memory`` if given, else 80% of what is free where the
    run allocates (the GPU's free memory on CUDA, this process's on the CPU)."""
    if given is not None:
        return given
    if device.type == "cuda":
        return int(0.8 * torch.cuda.mem_get_info(device)[0])
    return memory.default_limit()


def describe(device: torch.device) -> dict[str, str | bool | None]:
    """What the report says about the device: its name, and on CUDA the cuDNN version."""
    info: dict[str, str | bool | None] = {"device": str(device)}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        available = torch.backends.cudnn.is_available()  # type: ignore[no-untyped-call]
        version = torch.backends.cudnn.version() if available else None  # type: ignore[no-untyped-call]
        info["cudnn"] = None if version is None else str(version)
    return info
