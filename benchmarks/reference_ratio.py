"""Reference time over module time, forward, for the LSTM of issue 4's goal, in one run.

    python benchmarks/reference_ratio.py

LSTM(256, 256, num_layers=2), batch 32, 100 steps, float32, on the CPU: the goal is a ratio of
at most 3.5. Module and reference are timed alternately, several rounds, so that drift on a
shared machine touches both alike.
"""

from __future__ import annotations

import statistics
import sys

import torch

from rnninspect.commands.bench import bench
from rnninspect.core.options import BenchOptions
from rnninspect.model.spec import make_spec

GOAL = 3.5


def main() -> int:
    spec = make_spec(
        cell="lstm", input_size=256, hidden_size=256, num_layers=2, batch=32, seq_len=100
    )
    ratios, module, reference = [], [], []
    for _ in range(5):
        report = bench(spec, BenchOptions(min_time=1.0))
        ratios.append(report.ratio)
        module.append(report.timing["module"].median_ms)
        reference.append(report.timing["reference"].median_ms)
    ratio = statistics.median(ratios)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {spec.to_spec_string()}, "
        f"batch {spec.batch}, {spec.seq_len} steps, float32, forward"
    )
    print(
        f"module median {statistics.median(module):.1f} ms, reference median "
        f"{statistics.median(reference):.1f} ms; reference/module {ratio:.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}); goal <= {GOAL}: "
        f"{'met' if ratio <= GOAL else 'NOT met'}"
    )
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
