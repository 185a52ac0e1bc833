"""Peak resident memory of real runs against rnninspect's memory estimate, measured in one run.

The estimate must be an upper bound of what the process really takes, torch's own baseline
included: each command runs in its own process over a grid of configurations (input-heavy,
hidden-heavy, deep, bidirectional, packed, float64), and its peak RSS (``wait4``'s ``ru_maxrss``)
is set beside the estimate the command checks against ``--max-memory``. A ratio above 1 is a
configuration the estimate undercounts; the script exits 1 if there is one.

    python benchmarks/memory_rss.py
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from rnninspect.model.memory import estimate  # noqa: E402
from rnninspect.model.spec import resolve  # noqa: E402

#: (command, SPEC, options): what each run does, and the CONFIG it describes.
GRID = [
    ("verify", "nn.RNN(2000, 1)", ["--seq-len", "200", "--batch", "50"]),
    ("shapes", "nn.RNN(2000, 1)", ["--seq-len", "200", "--batch", "50"]),
    ("bench", "nn.RNN(2000, 1)", ["--seq-len", "200", "--batch", "50", "--backward"]),
    ("verify", "nn.LSTM(64, 1024)", ["--seq-len", "50", "--batch", "32"]),
    ("verify", "nn.GRU(256, 256, num_layers=4, bidirectional=True)", ["--seq-len", "100"]),
    ("verify", "nn.LSTM(32, 512, proj_size=64)", ["--seq-len", "400", "--batch", "16"]),
    ("verify", "nn.GRU(512, 512)", ["--seq-len", "100", "--batch", "64", "--dtype", "float64"]),
    ("verify", "nn.LSTM(128, 128)", ["--lengths", "300,200,100,50"]),
    ("verify", "nn.LSTMCell(4096, 4096)", ["--batch", "256"]),
    ("bench", "nn.LSTM(1024, 1024, num_layers=2)", ["--seq-len", "50", "--batch", "64"]),
    ("verify", "nn.GRU(4, 8)", []),
]


def peak_rss(args: list[str]) -> tuple[int, int]:
    """Run ``python -m rnninspect ARGS``; its exit code and peak RSS in bytes."""
    child = subprocess.Popen(
        [sys.executable, "-m", "rnninspect", *args, "--format", "json"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024


def options_of(options: list[str]) -> dict[str, object]:
    given: dict[str, object] = {}
    for flag, value in zip(options[::2], options[1::2], strict=False):
        key = flag.removeprefix("--").replace("-", "_")
        if key != "dtype":
            given[key] = value if key == "lengths" else int(value)
    return given


def main() -> int:
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{'command':<7} {'configuration':<62} {'peak RSS':>10} {'estimate':>10} {'ratio':>6}")
    worst = 0.0
    for command, spec_text, options in GRID:
        spec = resolve(spec_text, options_of([o for o in options if o != "--backward"]))
        dtype = options[options.index("--dtype") + 1] if "--dtype" in options else "float32"
        counted = estimate(spec, dtype)
        predicted = {
            "shapes": counted.process(0),
            "verify": counted.process(counted.verify),
            "bench": counted.process(
                counted.bench_backward if "--backward" in options else counted.bench
            ),
        }[command]
        code, rss = peak_rss([command, spec_text, *options])
        ratio = rss / predicted
        worst = max(worst, ratio)
        label = f"{spec_text} {' '.join(options)}"[:62]
        flag = "" if code in (0, 1) else f"  (exit {code})"
        print(
            f"{command:<7} {label:<62} {rss / 2**20:>8.0f}Mi {predicted / 2**20:>8.0f}Mi "
            f"{ratio:>6.2f}{flag}"
        )
    print(f"Worst peak RSS / estimate: {worst:.2f} (the estimate is an upper bound at <= 1)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
