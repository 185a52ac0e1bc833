"""Every bench figure in docs/performance.md, reproduced in one run.

    python benchmarks/docs_figures.py [--device cuda] [--min-time 0.5]

The three cells at small, medium and large sizes (forward, and forward+backward), then a sweep of
the sequence length for an LSTM with its fitted growth; markdown on stdout.
"""

from __future__ import annotations

import argparse
import sys

import torch

from rnninspect.commands.bench import bench, sweep
from rnninspect.core.options import BenchOptions
from rnninspect.model.spec import make_spec
from rnninspect.render.bench import bench_markdown

SIZES = {"small": (32, 32, 8, 20), "medium": (128, 128, 16, 50), "large": (256, 512, 32, 100)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--min-time", type=float, default=0.5)
    args = parser.parse_args()
    options = BenchOptions(device=args.device, backward=True, min_time=args.min_time)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{where}, torch {torch.__version__}, {torch.get_num_threads()} threads, float32\n")
    header = "| cell | size | module fwd ms | reference fwd ms | ref/module | module fwd+bwd ms "
    header += "| reference fwd+bwd ms | module GFLOP/s |"
    if args.device.startswith("cuda"):
        header += " module fwd ms, cuDNN off |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for cell in ("rnn", "lstm", "gru"):
        for label, (inputs, hidden, batch, steps) in SIZES.items():
            spec = make_spec(
                cell=cell,
                input_size=inputs,
                hidden_size=hidden,
                num_layers=2,
                batch=batch,
                seq_len=steps,
            )
            report = bench(spec, options)
            t = report.timing
            cells = [
                cell,
                f"{label}: {inputs}->{hidden}, 2 layers, N={batch}, L={steps}",
                f"{t['module'].median_ms:.3g}",
                f"{t['reference'].median_ms:.3g}",
                f"{report.ratio:.2f}",
                f"{t['module_backward'].median_ms:.3g}",
                f"{t['reference_backward'].median_ms:.3g}",
                f"{report.gflops('module'):.3g}",
            ]
            if report.without_cudnn:
                cells.append(f"{report.without_cudnn['module'].median_ms:.3g}")
            print("| " + " | ".join(cells) + " |")
    spec = make_spec(cell="lstm", input_size=128, hidden_size=128, batch=16)
    swept = sweep(
        spec,
        "seq_len",
        [25, 50, 100, 200],
        BenchOptions(device=args.device, min_time=args.min_time),
    )
    print()
    print(bench_markdown(swept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
