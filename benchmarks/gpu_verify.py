"""verify on CUDA across cells, dtypes and TF32, with cuDNN on and off; one markdown table.

    PYTHONPATH=. python3 benchmarks/gpu_verify.py

For each configuration: the verdict, the worst error over all rows as a fraction of the
tolerance, and the forward time of torch's module and of the reference. Run on a GPU machine;
the result goes into docs/performance.md.
"""

from __future__ import annotations

import sys

import torch

from rnninspect.commands.verify.verification import verify
from rnninspect.core.options import VerifyOptions
from rnninspect.model.spec import make_spec

CONFIGS = {
    "LSTM 2x bidir": dict(
        cell="lstm",
        input_size=64,
        hidden_size=128,
        num_layers=2,
        bidirectional=True,
        batch=16,
        seq_len=50,
    ),
    "LSTM proj": dict(
        cell="lstm", input_size=64, hidden_size=128, proj_size=32, batch=16, seq_len=50
    ),
    "GRU 2x": dict(cell="gru", input_size=64, hidden_size=128, num_layers=2, batch=16, seq_len=50),
    "RNN relu": dict(
        cell="rnn", input_size=64, hidden_size=128, nonlinearity="relu", batch=16, seq_len=50
    ),
    "GRUCell": dict(cell="gru_cell", input_size=64, hidden_size=128, batch=16),
}
RUNS = [
    ("float32", False),
    ("float32", True),
    ("float64", False),
    ("float16", False),
    ("bfloat16", False),
]


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device here", file=sys.stderr)
        return 3
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"cuDNN {torch.backends.cudnn.version()}\n"
    )
    print(
        "| config | dtype | TF32 | cuDNN | verdict | worst err / tol | worst abs err "
        "| module fwd ms | reference fwd ms |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for name, values in CONFIGS.items():
        spec = make_spec(**values)
        for dtype, tf32 in RUNS:
            for cudnn in (True, False):
                if not cudnn and (dtype, tf32) != ("float32", False):
                    continue
                with torch.backends.cudnn.flags(enabled=cudnn):
                    report = verify(spec, VerifyOptions(device="cuda", dtype=dtype, tf32=tf32))
                worst = max(report.rows, key=lambda r: r.comparison.excess)
                print(
                    f"| {name} | {dtype} | {'on' if tf32 else 'off'} | {'on' if cudnn else 'off'} "
                    f"| {report.verdict} | {worst.comparison.excess:.3f} "
                    f"| {worst.comparison.max_abs_err:.2e} ({worst.tensor}) "
                    f"| {report.timing['module'].median_ms:.3f} "
                    f"| {report.timing['reference'].median_ms:.3f} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
