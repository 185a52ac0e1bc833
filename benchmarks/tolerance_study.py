"""How much of the tolerance correct runs use: many random configurations, one dtype, one device.

    PYTHONPATH=. python3 benchmarks/tolerance_study.py --device cuda --dtype float32 [--runs 60]
    python benchmarks/tolerance_study.py --dtype float16 --runs 600 --weight-scales 2,3,4
    python benchmarks/tolerance_study.py --dtype bfloat16 --impl tests/impls/manual.py

For each random configuration (cell, sizes, layers, directions, batch_first, bias, state, seed),
torch's module is verified against the float64 reference and the worst row's error over tolerance
("excess", 1.0 = exactly at the tolerance) is recorded. Prints the distribution of the excess and
the verdicts, which is what the default tolerances in docs/math.md were checked against.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter

import torch

from rnninspect.commands.verify.verification import verify
from rnninspect.core.options import VerifyOptions
from rnninspect.model.spec import CellKind, make_spec


def random_spec(rng: random.Random) -> dict[str, object]:
    cell = rng.choice(list(CellKind))
    hidden = rng.choice([8, 16, 32, 64, 128])
    values: dict[str, object] = {
        "cell": cell,
        "input_size": rng.choice([4, 16, 32, 64]),
        "hidden_size": hidden,
        "bias": rng.random() < 0.8,
        "batch": rng.choice([1, 3, 8, 16]),
        "seed": rng.randrange(10_000),
    }
    if cell.family == "rnn":
        values["nonlinearity"] = rng.choice(["tanh", "relu"])
    if not cell.is_cell:
        values |= {
            "num_layers": rng.choice([1, 2, 3]),
            "bidirectional": rng.random() < 0.5,
            "batch_first": rng.random() < 0.5,
            "seq_len": rng.choice([5, 20, 50]),
        }
        if cell is CellKind.LSTM and rng.random() < 0.3:
            values["proj_size"] = hidden // 2
    return values


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument(
        "--weight-scales",
        default="1",
        help="comma-separated weight scales, one drawn per configuration (e.g. 2,3,4: the "
        "chaotic regime, where rounding is amplified and float16 overflows)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--impl",
        default=None,
        help="a file whose classes are named as torch's (RNN, LSTM, GRU, RNNCell, ...): verify "
        "those instead of torch's modules (e.g. tests/impls/manual.py, written apart from both)",
    )
    args = parser.parse_args()
    scales = [float(value) for value in args.weight_scales.split(",")]
    rng = random.Random(args.seed)
    excess, verdicts = [], Counter()
    for _ in range(args.runs):
        values = random_spec(rng)
        scale = rng.choice(scales)
        spec = make_spec(**values)
        impl = None if args.impl is None else f"{args.impl}:{spec.cell.torch_name}"
        options = VerifyOptions(
            device=args.device,
            dtype=args.dtype,
            tf32=args.tf32,
            timing=False,
            weight_scale=scale,
            impl=impl,
        )
        report = verify(spec, options)
        worst = max(row.comparison.excess for row in report.rows)
        excess.append(worst)
        verdicts[report.verdict] += 1
        if report.verdict != "pass":
            bad = [r.tensor for r in report.rows if r.verdict != "pass"][:3]
            print(
                f"  {report.verdict}: {report.spec.to_spec_string()} batch {report.spec.batch} "
                f"seq_len {report.spec.seq_len} seed {report.spec.seed} weight scale {scale:g}: "
                f"excess {worst:.3g} {bad}"
            )
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    excess.sort()
    quantiles = statistics.quantiles(excess, n=20)
    print(
        f"{name}, torch {torch.__version__}, {args.dtype}, TF32 {'on' if args.tf32 else 'off'}: "
        f"{args.impl or 'torch'}'s modules, {args.runs} random configurations, weight scales "
        f"{args.weight_scales}; worst-row "
        "excess median "
        f"{statistics.median(excess):.3g}, "
        f"95th percentile {quantiles[-1]:.3g}, max {excess[-1]:.3g}; verdicts {dict(verdicts)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
