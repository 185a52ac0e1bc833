"""Does ``rnninspect bench`` time the module as an independent measurement does?

    python benchmarks/bench_agreement.py [--device cuda]

For each cell, bench's module median (forward) is set beside a torch.utils.benchmark measurement
made here, from torch alone, of the same module on the same input in the same conditions. The
goal is agreement within +-30%.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn
from torch.utils import benchmark

from rnninspect.commands.bench import bench
from rnninspect.core.options import BenchOptions
from rnninspect.model.spec import make_spec

BAND = 0.30


def independent(cell: str, size: int, device: str) -> float:
    """Median milliseconds of a forward pass, measured without any rnninspect code."""
    module = getattr(nn, cell)(size, size, num_layers=2).to(device)
    x = torch.randn(50, 16, size, device=device)
    with torch.no_grad():
        threads = torch.get_num_threads()  # the count bench times on and reports
        timer = benchmark.Timer("m(x)", globals={"m": module, "x": x}, num_threads=threads)
        return timer.blocked_autorange(min_run_time=1.0).median * 1e3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    worst = 0.0
    for cell in ("RNN", "LSTM", "GRU"):
        size = 128
        spec = make_spec(
            cell=cell.lower(), input_size=size, hidden_size=size, num_layers=2, batch=16, seq_len=50
        )
        ours = bench(spec, BenchOptions(device=args.device, min_time=1.0)).timing["module"]
        theirs = independent(cell, size, args.device)
        ratio = ours.median_ms / theirs
        worst = max(worst, abs(ratio - 1))
        print(
            f"{cell:<5} bench {ours.median_ms:8.3f} ms   independent {theirs:8.3f} ms   "
            f"bench/independent {ratio:.2f}"
        )
    met = worst <= BAND
    print(
        f"largest disagreement {100 * worst:.0f}% (goal <= {100 * BAND:.0f}%: "
        f"{'met' if met else 'NOT met'})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
