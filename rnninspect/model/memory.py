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

from rnninspect.base.errors import MemoryLimitError as MemoryLimitError
from rnninspect.model.shapes import parameter_shapes, tensor_shapes
from rnninspect.model.spec import RNNSpec

#: Bytes per element of the dtypes rnninspect runs in.
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


#: What the process holds before any work: Python, torch and rnninspect imported. Measured at
#: 230 to 300 MiB on x86-64 Linux with torch 2.13 (CPU build) by benchmarks/memory_rss.py.
BASELINE = 320 * 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one run allocates, by part, on top of what the process held before it (torch's
    :data:`BASELINE`). ``shapes`` is one forward pass; ``bench`` (``bench_backward``) a
    benchmark of the module and the reference, forward (and backward); ``verify`` a
    verification; ``implementation`` what an ``--impl`` adds to it. Each is an upper bound of
    the peak, checked against measured peak RSS by benchmarks/memory_rss.py."""

    parameters: int
    tensors: int
    workspace: int
    verify: int
    bench: int = 0
    bench_backward: int = 0
    implementation: int = 0

    @property
    def shapes(self) -> int:
        return self.parameters + self.tensors + self.workspace

    @staticmethod
    def process(work: int) -> int:
        """What the whole process takes for ``work`` bytes of tensors: torch's baseline too."""
        return BASELINE + work


def estimate(spec: RNNSpec, dtype: str = "float32") -> MemoryEstimate:
    """Estimate the memory of a forward pass, a forward benchmark and a verification.

    Counted in elements, then multiplied by the element size. P is every weight and bias; T
    the input, h0/c0, output and h_n/c_n; W the workspace of one layer (its hoisted input
    projection, L*N*gates*H_cell, and its output); S the activations saved for backward (gates,
    c, h per step, layer and direction). One run with gradients holds its inputs twice (the
    leaves and their gradients), its outputs, the parameters' gradients, S and W.

    - forward: P + T + W in the dtype;
    - bench: the forward, the inputs drawn in float64 first, and the reference's run; with
      backward, both sides with one run with gradients each;
    - verify: the module, the float64 reference and the reference in the module's dtype, each
      with its parameters and one run with gradients; the inputs drawn in float64; the timing's
      run of module and reference; and the comparison of the largest row, made in float64 with
      about seven temporaries of its size.
    """
    size = DTYPE_BYTES[dtype]
    wide = DTYPE_BYTES["float64"]
    shapes = parameter_shapes(spec)
    tensor_list = tensor_shapes(spec)
    params = sum(p.numel for p in shapes)
    tensors = sum(t.numel for t in tensor_list)
    largest = max([p.numel for p in shapes] + [t.numel for t in tensor_list])
    steps = 1 if spec.cell.is_cell else spec.seq_len
    batch = 1 if spec.unbatched else spec.batch
    gates = len(spec.cell.gate_names)
    layers = 1 if spec.cell.is_cell else spec.num_layers
    per_step = gates * spec.hidden_size + 2 * spec.hidden_size + spec.out_size
    saved = steps * batch * spec.num_directions * layers * per_step
    layer_output = steps * batch * spec.num_directions * spec.out_size
    workspace = steps * batch * spec.num_directions * gates * spec.hidden_size + layer_output
    one_run = 2 * tensors + params + saved + workspace
    side = params + one_run
    verify = (
        side * (2 * size + wide) + tensors * wide + one_run * (size + wide) + 7 * largest * wide
    )
    bench = (params + tensors + workspace) * size + tensors * wide + (tensors + workspace) * size
    return MemoryEstimate(
        parameters=params * size,
        tensors=tensors * size,
        workspace=workspace * size,
        verify=verify,
        bench=bench,
        bench_backward=2 * side * size + tensors * wide,
        implementation=side * size,
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
    if int(size) < 1:  # one rule for every command: a limit is a whole number of bytes, >= 1
        raise MemoryLimitError(f"--max-memory must be at least 1 byte, got {shown!r}")
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


def check(needed: int, limit: int, what: str, whole_process: bool = False) -> None:
    """Refuse a run whose estimate is over the limit, before anything is allocated.

    ``whole_process`` when the limit is the user's for this whole process (``--max-memory`` on
    the CPU): torch's own :data:`BASELINE` counts against it too. The default limit is taken
    from what is free now, which that baseline has already used.
    """
    total = needed + (BASELINE if whole_process else 0)
    if total > limit:
        counted = (
            f"{format_bytes(total)} with torch's own {format_bytes(BASELINE)}"
            if whole_process
            else format_bytes(total)
        )
        raise MemoryLimitError(
            f"{what} needs an estimated {counted}, over the memory limit of "
            f"{format_bytes(limit)}; use smaller sizes or raise --max-memory"
        )
