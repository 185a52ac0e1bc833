"""How much memory a run will take, how much this process may use, and the check between them.

torch allocates lazily, so a configuration too large for the machine is otherwise killed by the
kernel's OOM killer part-way through, with no message. The estimate below is made from the shape
model before anything is allocated. No torch import.
"""

from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

from rnninspect.shapes import parameter_shapes, tensor_shapes
from rnninspect.spec import RNNInspectError, RNNSpec

#: Bytes per element of the dtypes rnninspect runs in.
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


class MemoryLimitError(RNNInspectError):
    """The estimate is over the limit, or a limit could not be parsed (exit 2)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one run needs, by part; ``shapes`` is what ``rnninspect shapes`` allocates and
    ``verify`` adds gradients, saved activations and a float64 reference on top."""

    parameters: int
    tensors: int
    workspace: int
    verify: int

    @property
    def shapes(self) -> int:
        return self.parameters + self.tensors + self.workspace


def estimate(spec: RNNSpec, dtype: str = "float32") -> MemoryEstimate:
    """Estimate the memory of a forward pass (``shapes``) and of a verification (``verify``).

    Counted in elements, then multiplied by the element size:

    - parameters: every weight and bias;
    - tensors: input, h0/c0, output, h_n/c_n;
    - workspace: one layer's hoisted input projection, L*N*gates*H_cell, and one layer's output;
    - verify: the module run again with gradients (parameters, input and states twice, plus the
      activations saved for backward: gates, c, h per step, layer and direction), and the same
      again for the float64 reference.
    """
    size = DTYPE_BYTES[dtype]
    params = sum(p.numel for p in parameter_shapes(spec))
    tensors = sum(t.numel for t in tensor_shapes(spec))
    steps = 1 if spec.cell.is_cell else spec.seq_len
    batch = 1 if spec.unbatched else spec.batch
    gates = len(spec.cell.gate_names)
    layers = 1 if spec.cell.is_cell else spec.num_layers
    per_step = gates * spec.hidden_size + 2 * spec.hidden_size + spec.out_size
    saved = steps * batch * spec.num_directions * layers * per_step
    layer_output = steps * batch * spec.num_directions * spec.out_size
    workspace = steps * batch * spec.num_directions * gates * spec.hidden_size + layer_output
    with_grads = 2 * params + 2 * tensors + saved + workspace
    return MemoryEstimate(
        parameters=params * size,
        tensors=tensors * size,
        workspace=workspace * size,
        verify=with_grads * (size + DTYPE_BYTES["float64"]),
    )


def available_memory() -> int:
    """Bytes this process may still allocate: the least of free RAM, the cgroup's remaining
    allowance and the address-space rlimit."""
    limits = [_meminfo_available()]
    limits += _cgroup_remaining()
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limit for limit in limits if limit is not None)


def default_limit() -> int:
    """80% of :func:`available_memory`: the default of ``--max-memory``."""
    return int(0.8 * available_memory())


def _meminfo_available() -> int:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    if match is None:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(match.group(1)) * 1024


def _cgroup_remaining() -> list[int]:
    """Remaining allowance under cgroup v2 (``memory.max``) or v1 (``memory.limit_in_bytes``)."""
    pairs = [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ]
    for limit_path, usage_path in pairs:
        try:
            limit_text = Path(limit_path).read_text().strip()
            usage = int(Path(usage_path).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text.isdigit() and int(limit_text) < 2**60:
            return [max(int(limit_text) - usage, 0)]
    return []


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """Parse ``--max-memory``: a byte count with an optional unit, ``8GiB``, ``500MB``, ``2G``."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    match = re.fullmatch(r"\s*(\d{1,30}(?:\.\d{1,30})?)\s*([a-zA-Z]*)\s*", text[:200])
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise MemoryLimitError(
            f"--max-memory must be a positive size such as 8GiB, 500MB or 2G, got {shown!r}"
        )
    size = float(match.group(1)) * _UNITS[unit]
    if size > MAX_SIZE:
        raise MemoryLimitError(f"--max-memory must be at most 1 EiB, got {shown!r}")
    return int(size)


#: The largest --max-memory: more than any machine has, small enough to stay exact.
MAX_SIZE = 2**60


def format_bytes(count: int) -> str:
    """``1.5 GiB``, ``320 KiB``, ``12 B``: sizes as a person reads them."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check(needed: int, limit: int, what: str) -> None:
    """Refuse a run whose estimate is over the limit, before anything is allocated."""
    if needed > limit:
        raise MemoryLimitError(
            f"{what} needs an estimated {format_bytes(needed)}, over the memory limit of "
            f"{format_bytes(limit)}; use smaller sizes or raise --max-memory"
        )
