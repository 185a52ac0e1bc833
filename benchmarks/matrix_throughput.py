"""A 72-configuration matrix against one ``rnninspect verify``, wall time, in one run.

    python benchmarks/matrix_throughput.py [--repeat 3]

The matrix: 3 cells x 1..3 layers x both directions x batch_first x bias, small modules (the
defaults: input 10, hidden 20, batch 3, 5 steps). Goal (issue 5): the whole matrix in under 3x
the wall time of a single ``rnninspect verify`` of one such configuration, each run as a user
would, as a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MATRIX = """
[matrix]
cell = ["rnn", "lstm", "gru"]
num_layers = [1, 2, 3]
bidirectional = [false, true]
batch_first = [false, true]
bias = [false, true]
"""
GOAL = 3.0


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matrix.toml"
        path.write_text(MATRIX)
        single = [
            sys.executable,
            "-m",
            "rnninspect",
            "verify",
            "--cell",
            "lstm",
            "--num-layers",
            "2",
        ]
        whole = [sys.executable, "-m", "rnninspect", "matrix", str(path), "--format", "json"]
        wall(single)  # warm the page cache and .pyc files
        singles, matrices = [], []
        for _ in range(args.repeat):
            singles.append(wall(single))
            matrices.append(wall(whole))
    one, many = statistics.median(singles), statistics.median(matrices)
    ratio = many / one
    print(
        f"single verify {one:.2f} s, 72-case matrix {many:.2f} s (medians of {args.repeat}): "
        f"{ratio:.2f}x (goal < {GOAL}x: {'met' if ratio < GOAL else 'NOT met'})"
    )
    return 0 if ratio < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
