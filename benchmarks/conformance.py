"""The default conformance suite in each installed runtime: cases per second, in one run.

    python benchmarks/conformance.py [--runtime onnxruntime,...] [--jobs 1,2]

Each runtime runs every case of the suite (three operators, every attribute, three shapes) as
``rnninspect conformance --runtime R`` would, in this process, each case in a fork of its own.
Goal (issue 24): the whole suite in under a minute per runtime on a 2-core machine. Printed,
not asserted; the figures go in docs/performance.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

GOAL_SECONDS = 60.0
MODULES = {
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "tract": "tract",
    "onnx-reference": "onnx",
}


def main() -> int:
    from rnninspect.commands.conformance.conformance import run_suite, select

    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", default=",".join(MODULES))
    parser.add_argument("--jobs", default="1,2")
    args = parser.parse_args()
    cases = select()
    print(
        f"{len(cases)} cases; {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"{'runtime':16} {'jobs':>4} {'seconds':>8} {'cases/s':>8} {'verdicts':>40}  goal")
    for name in args.runtime.split(","):
        if importlib.util.find_spec(MODULES[name]) is None:
            print(f"{name:16} not installed")
            continue
        for jobs in (int(j) for j in args.jobs.split(",")):
            started = time.perf_counter()
            result = run_suite(cases, name, jobs=jobs)
            seconds = time.perf_counter() - started
            counts = ", ".join(f"{n} {v}" for v, n in result.counts.items())
            met = "met" if seconds < GOAL_SECONDS else "MISSED"
            print(
                f"{name:16} {jobs:>4} {seconds:>8.1f} {len(cases) / seconds:>8.1f} "
                f"{counts:>40}  {met}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
