"""verify of a large configuration against the work it cannot skip, measured in one run.

The irreducible work, as a script doing only the check would: build the module, its input and
the upstream gradient, then the module's forward+backward and the float64 reference's, once
each. verify also runs the reference in the module's dtype (the noise floor) and compares every
row. Goal (issue 16): verify within 1.5x of the irreducible work. Also measured: verify with its
default quick timing line, which should cost about what the check did (issue 16, point 1).

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

from rnninspect.commands.verify.verification import verify
from rnninspect.core.build import example_inputs, run_module, torch_module, upstream_gradients
from rnninspect.core.options import VerifyOptions
from rnninspect.core.runs import reference_side, run_with_grads
from rnninspect.model.spec import RNNSpec, make_spec

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


def medians(settings: dict[str, Any], repeat: int = 5) -> dict[str, tuple[float, float]]:
    """For verify without timing and verify with its quick timing line: the median seconds, and
    the median of the ratios to the irreducible work run just before (the figure least moved
    by a change of load), over ``repeat`` alternating rounds after a warm-up. The irreducible
    work is under ``"irreducible"``, its ratio 1."""
    cpu = torch.device("cpu")
    spec = make_spec(**settings)

    def irreducible() -> None:
        """What a script that checks the module against the float64 reference must do: build
        the module, the input and the upstream gradient, run both forward and backward."""
        module = torch_module(spec)
        inputs = example_inputs(spec)
        upstream = upstream_gradients(spec, cpu)
        forward = functools.partial(_forward, module, spec)
        run_with_grads(forward, dict(module.named_parameters()), inputs, upstream)
        run_with_grads(*reference_side(spec, module, inputs, cpu), upstream)

    runs = {
        "irreducible": irreducible,
        "verify": functools.partial(verify, spec, VerifyOptions(timing="off")),
        "verify, quick timing": functools.partial(verify, spec, VerifyOptions(timing="quick")),
    }
    for run in runs.values():  # warm-up: allocator, thread pools, first-call costs
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # alternating, so that a change of load touches every one
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    base = times["irreducible"]
    return {
        name: (
            statistics.median(seconds),
            statistics.median(ours / first for first, ours in zip(base, seconds, strict=True)),
        )
        for name, seconds in times.items()
    }


def _forward(module: torch.nn.Module, spec: RNNSpec, x: Mapping[str, Tensor]) -> Any:
    return run_module(module, spec, dict(x))


def main() -> int:
    print(f"torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} cores")
    worst = 0.0
    for label, settings in CONFIGS.items():
        found = medians(settings)
        worst = max(worst, found["verify"][1])
        print(f"{label} (medians of 5 alternating; x: median of the 5 ratios)")
        for name, (seconds, ratio) in found.items():
            goal = " (goal <= 1.5x)" if name == "verify" else ""
            print(f"  {name:<22} {seconds:6.2f} s  {ratio:5.2f}x{goal}")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
