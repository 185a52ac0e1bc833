"""``matrix --jobs 2`` against ``--jobs 1`` on a 200-case matrix, measured in one run.

Goal (issue 14): at least 1.6x on this 2-core machine. The two runs alternate ``--repeat`` times
so that drift on a shared machine touches both alike. Printed: the medians and their ratio for
running the cases (the report's ``seconds``) and for the whole command (with the start-up both
pay once: Python, torch, reading the file), and whether the two reports agree, timings aside.

    python benchmarks/matrix_jobs.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MATRIX = """\
[defaults]
input_size = 16
[matrix]
cell = ["rnn", "lstm", "gru"]
hidden_size = [32, 64]
num_layers = [1, 2]
bidirectional = [false, true]
seq_len = [20, 50]
batch = [4, 8]
dtype = ["float32", "float64"]
include = [
    {cell = "lstm_cell", hidden_size = 16}, {cell = "lstm_cell", hidden_size = 256},
    {cell = "gru_cell", hidden_size = 16}, {cell = "gru_cell", hidden_size = 256},
    {cell = "rnn_cell", hidden_size = 16}, {cell = "rnn_cell", hidden_size = 256},
    {cell = "lstm", hidden_size = 128, seq_len = 50, batch = 16},
    {cell = "gru", hidden_size = 128, seq_len = 50, batch = 16},
]
"""


def run(path: Path, jobs: int) -> tuple[float, dict[str, object]]:
    """The whole command's wall time (start-up included) and its report."""
    command = [sys.executable, "-m", "rnninspect", "matrix", str(path), "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run([*command, "--jobs", str(jobs)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"matrix --jobs {jobs} exited {done.returncode}: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout)


def timeless(doc: dict[str, object]) -> object:
    cases = [{k: v for k, v in case.items() if k != "seconds"} for case in doc["cases"]]  # type: ignore[attr-defined]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.toml"
        path.write_text(MATRIX)
        times: dict[int, list[float]] = {1: [], 2: []}
        running: dict[int, list[float]] = {1: [], 2: []}
        docs: dict[int, dict[str, object]] = {}
        for _ in range(args.repeat):
            for jobs in (1, 2):
                seconds, docs[jobs] = run(path, jobs)
                times[jobs].append(seconds)
                running[jobs].append(float(docs[jobs]["seconds"]))  # type: ignore[arg-type]
    cases = len(docs[1]["cases"])  # type: ignore[arg-type]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{cases} cases, median of {args.repeat} alternating runs")
    for label, measured in (("running the cases", running), ("whole command", times)):
        one, two = statistics.median(measured[1]), statistics.median(measured[2])
        print(f"{label} (wall time):")
        print(f"  --jobs 1: {one:6.1f} s   runs {', '.join(f'{t:.1f}' for t in measured[1])}")
        print(f"  --jobs 2: {two:6.1f} s   runs {', '.join(f'{t:.1f}' for t in measured[2])}")
        print(f"  speed-up: {one / two:.2f}x (goal >= 1.6x)")
    print(f"  same report, timings aside: {timeless(docs[1]) == timeless(docs[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
