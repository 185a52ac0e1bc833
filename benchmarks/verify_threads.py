"""verify on one CPU thread against two, across sizes, measured in one run: the data behind
``rnninspect/core/threads.py``'s choice (one thread under 50 MFLOP per layer-step).

    python benchmarks/verify_threads.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from rnninspect.commands.verify.verification import verify
from rnninspect.core.options import VerifyOptions
from rnninspect.model.shapes import flop_count, layer_steps
from rnninspect.model.spec import make_spec

SIZES = ((20, 3), (64, 8), (128, 16), (256, 32), (512, 32))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(
        f"torch {torch.__version__}, {platform.machine()}, {cores} cores; verify (no timing "
        f"line) of LSTM(H, H, num_layers=2), seq_len 20; best of {args.repeat}, alternating"
    )
    for hidden, batch in SIZES:
        spec = make_spec(
            cell="lstm",
            input_size=hidden,
            hidden_size=hidden,
            batch=batch,
            seq_len=20,
            num_layers=2,
        )
        per_step = flop_count(spec).flops / layer_steps(spec)
        best: dict[int, float] = {}
        for _ in range(args.repeat):
            for threads in (1, cores):
                options = VerifyOptions(timing="off", threads=threads)
                verify(spec, options)  # warm-up
                started = time.perf_counter()
                verify(spec, options)
                seconds = time.perf_counter() - started
                best[threads] = min(best.get(threads, seconds), seconds)
        print(
            f"  H {hidden:4d}, batch {batch:3d}, {per_step / 1e6:7.2f} MFLOP a layer-step: "
            f"1 thread {best[1] * 1000:6.0f} ms, {cores} threads {best[cores] * 1000:6.0f} ms "
            f"({best[cores] / best[1]:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
