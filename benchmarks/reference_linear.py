"""The reference's forward+backward against the sequence length: linear since the time loop
takes its steps from ``gi.unbind(0)``; quadratic before, when it indexed ``gi[t]`` (autograd
then builds one whole-sequence gradient per step). Both measured here, in one run.

Goal (issue 16): a fitted exponent of at most 1.1 up to L = 5000.

    python benchmarks/reference_linear.py [--repeat 3] [--longest 5000]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch

from rnninspect.core.build import example_inputs, torch_module, upstream_gradients
from rnninspect.core.runs import reference_side, run_with_grads
from rnninspect.model.spec import make_spec
from rnninspect.reference import recurrence


class _Indexed:
    """What ``project_input`` gave before: ``unbind`` hands back the whole tensor, so the loop
    indexes ``gi[t]`` as it used to."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    def unbind(self, dim: int) -> torch.Tensor:
        return self.tensor


def seconds(length: int, repeat: int) -> float:
    """Median wall time of one float64 reference forward+backward, LSTM(10, 20), batch 3."""
    spec = make_spec(cell="lstm", input_size=10, hidden_size=20, seq_len=length)
    module = torch_module(spec)
    side = reference_side(spec, module, example_inputs(spec), torch.device("cpu"))
    upstream = upstream_gradients(spec, torch.device("cpu"))
    run_with_grads(*side, upstream)  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_with_grads(*side, upstream)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def exponent(lengths: list[int], times: list[float]) -> float:
    xs, ys = [math.log(n) for n in lengths], [math.log(t) for t in times]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def indexed(run: Callable[[], float]) -> float:
    original = recurrence.DirectionWeights.project_input
    with mock.patch.object(
        recurrence.DirectionWeights, "project_input", lambda w, x: _Indexed(original(w, x))
    ):
        return run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--longest", type=int, default=5000)
    args = parser.parse_args()
    lengths = [n for n in (125, 250, 500, 1000, 2000, 5000) if n <= args.longest]
    print(
        f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} threads; LSTM(10, 20), batch 3, float64, median of "
        f"{args.repeat}"
    )
    now, before = [], []
    for length in lengths:
        now.append(seconds(length, args.repeat))
        old = indexed(lambda n=length: seconds(n, args.repeat)) if length <= 2000 else math.nan
        before.append(old)
        ratio = "" if math.isnan(old) else f"   gi[t] {old * 1000:8.0f} ms ({old / now[-1]:.1f}x)"
        print(f"L = {length:5d}: unbind {now[-1] * 1000:8.0f} ms{ratio}")
    k = exponent(lengths, now)
    measured = [(n, t) for n, t in zip(lengths, before, strict=True) if not math.isnan(t)]
    k_before = exponent([n for n, _ in measured], [t for _, t in measured])
    print(f"fitted exponent: unbind {k:.2f} (goal <= 1.1), gi[t] {k_before:.2f}")
    return 0 if k <= 1.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
