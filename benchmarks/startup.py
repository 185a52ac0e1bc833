"""Start-up cost of the CLI against ``python -c "import torch"``, measured in one run.

Goals: ``rnninspect --help`` at most 0.3x (issue 2), ``rnninspect shapes`` at most 1.25x (issue 2)
and ``rnninspect verify`` of a small module at most 1.3x (issue 16) the time of importing torch.
Each command runs ``--repeat`` times, interleaved so that drift on a shared machine touches all
alike; the medians and their ratios are printed.

    python benchmarks/startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "rnninspect --help": [sys.executable, "-m", "rnninspect", "--help"],
    "rnninspect shapes": [sys.executable, "-m", "rnninspect", "shapes"],
    "rnninspect verify": [sys.executable, "-m", "rnninspect", "verify", "nn.LSTM(10, 20)"],
}
GOALS = {"rnninspect --help": 0.3, "rnninspect shapes": 1.25, "rnninspect verify": 1.3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # one warm-up each: page cache, .pyc files
        subprocess.run(command, check=True, capture_output=True)
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)

    import torch

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, {args.repeat} runs each"
    )
    base = statistics.median(times["import torch"])
    failed = False
    for name, samples in times.items():
        median = statistics.median(samples)
        line = f"{name:<20} median {median * 1000:7.0f} ms"
        if name in GOALS:
            ratio = median / base
            met = ratio <= GOALS[name]
            failed |= not met
            verdict = "met" if met else "NOT met"
            line += f"   {ratio:.2f}x import torch (goal <= {GOALS[name]}x: {verdict})"
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
