"""How many CPU threads a check of one configuration runs on.

Measured on a quiet 2-core machine (``benchmarks/verify_threads.py``, docs/performance.md): a
configuration whose steps are small, up to about 0.5 MFLOP per layer-step (LSTM(64, 64), batch
8), verifies as fast on one thread as on two, since its thousands of small operations gain
nothing from a thread pool that each must synchronise; from about 4 MFLOP two threads are 1.1x
to 1.3x faster. On a loaded machine more threads only cost (3.9x slower, issue 16). So a
configuration under :data:`SMALL_STEP` runs on one thread, a larger one on every thread torch
has. The number depends on the configuration alone, so the same case sums in the same order in
one process and in ``matrix --jobs`` workers. ``--threads`` overrides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rnninspect.model.shapes import flop_count, layer_steps
from rnninspect.model.spec import RNNSpec

#: Floating-point operations per layer-step under which one thread is as fast as more.
SMALL_STEP = 1_000_000


def auto_threads(spec: RNNSpec, available: int) -> int:
    """One thread for a configuration whose steps are small, else ``available``."""
    small = flop_count(spec).flops / layer_steps(spec) < SMALL_STEP
    return 1 if small else available


@contextmanager
def torch_threads(count: int | None) -> Iterator[int]:
    """torch's intra-op threads set to ``count`` (None: left as they are) for the block, and
    set back after it; the block gets the count it runs on."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(before if count is None else count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
