"""verify of a large configuration against the work it cannot skip, measured in one run.

The irreducible work, as a script doing only the check would: build the module, its input and
the upstream gradient, then the module's forward+backward and the float64 reference's, once
each. verify also runs the reference in the module's dtype (the noise floor) and compares every
row. Goal (issue 16): verify within 1.5x of the irreducible work.

    python benchmarks/verify_overhead.py
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from rnninspect.build import example_inputs, run_module, torch_module, upstream_gradients
from rnninspect.options import VerifyOptions
from rnninspect.runs import reference_side, run_with_grads
from rnninspect.spec import RNNSpec, make_spec
from rnninspect.verification import verify

CONFIGS: dict[str, dict[str, Any]] = {
    "LSTM(128, 256, num_layers=2, bidirectional=True), batch 32, seq_len 100": dict(
        cell="lstm",
        input_size=128,
        hidden_size=256,
        num_layers=2,
        bidirectional=True,
        batch=32,
        seq_len=100,
    ),
    "GRU(256, 512), batch 3, seq_len 500": dict(
        cell="gru", input_size=256, hidden_size=512, seq_len=500
    ),
}


def medians(settings: dict[str, Any], repeat: int = 5) -> tuple[float, float, float]:
    """Median seconds of the irreducible work and of verify, alternating, after a warm-up, and
    the median of the ratios of each pair of runs (the figure least moved by a change of load)."""
    cpu = torch.device("cpu")
    spec = make_spec(**settings)
    options = VerifyOptions(timing="off")

    def irreducible() -> None:
        """What a script that checks the module against the float64 reference must do: build
        the module, the input and the upstream gradient, run both forward and backward."""
        module = torch_module(spec)
        inputs = example_inputs(spec)
        upstream = upstream_gradients(spec, cpu)
        forward = functools.partial(_forward, module, spec)
        run_with_grads(forward, dict(module.named_parameters()), inputs, upstream)
        run_with_grads(*reference_side(spec, module, inputs, cpu), upstream)

    def whole() -> None:
        verify(spec, options)

    irreducible(), whole()  # warm-up: allocator, thread pools, first-call costs
    times: dict[str, list[float]] = {"irreducible": [], "verify": []}
    for _ in range(repeat):  # alternating, so that a change of load touches both
        for name, run in (("irreducible", irreducible), ("verify", whole)):
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    pairs = [ours / base for base, ours in zip(times["irreducible"], times["verify"], strict=True)]
    return (
        statistics.median(times["irreducible"]),
        statistics.median(times["verify"]),
        statistics.median(pairs),
    )


def _forward(module: torch.nn.Module, spec: RNNSpec, x: Mapping[str, Tensor]) -> Any:
    return run_module(module, spec, dict(x))


def main() -> int:
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} cores")
    worst = 0.0
    for label, settings in CONFIGS.items():
        base, ours, ratio = medians(settings)
        worst = max(worst, ratio)
        print(
            f"{label}: irreducible {base:.2f} s, verify {ours:.2f} s (medians of 5 alternating); "
            f"verify/irreducible {ratio:.2f}x (median of the 5 pairs; goal <= 1.5x)"
        )
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
