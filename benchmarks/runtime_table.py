"""What each runtime does with each recurrent layer: the table in docs/runtimes.md, measured.

For every cell and a few options, ``verify --runtime compile,export,onnx`` (both ONNX exporters)
is run once, and each runtime's outcome at the example shapes and at L+3, N+1 is summarised:
``works``, ``runs eagerly`` (torch.compile compiled nothing: dynamo captured no graph),
``refuses`` (the exporter or compiler declined), ``fails at run`` (the artefact was made
and then failed or returned wrong numbers) or ``other shapes fail`` (right at the example's
shapes only). Then ``convert --to onnx`` writes the module's weights as a file: ``works``
where it was written, which it is only after it ran right at 12 shapes.

    python benchmarks/runtime_table.py
"""

from __future__ import annotations

import logging
import platform
import sys
import warnings

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])

import torch

import rnninspect

CONFIGS = [
    "nn.RNN(10, 20)",
    "nn.LSTM(10, 20)",
    "nn.GRU(10, 20)",
    "nn.LSTM(10, 20, num_layers=2, bidirectional=True, batch_first=True)",
    "nn.GRU(10, 20, num_layers=2, bidirectional=True, batch_first=True)",
    "nn.RNN(10, 20, num_layers=2, bidirectional=True, batch_first=True)",
    "nn.LSTM(10, 20, proj_size=8)",
    "nn.GRUCell(10, 20)",
    "nn.LSTMCell(10, 20)",
]
RUNS = [("compile", None), ("export", None), ("onnx", "dynamo"), ("onnx", "legacy")]


def outcome(results: list) -> str:  # type: ignore[type-arg]
    first, *others = results
    if first.error and first.error.startswith(
        ("torch.export", "torch.onnx.export", "torch.compile")
    ):
        return "refuses"
    if first.verdict == "fail":
        return "fails at run"
    if any(result.verdict == "fail" for result in others):
        return "other shapes fail"
    if first.compiled and first.compiled.get("ran_eagerly"):
        return "runs eagerly"
    return "works"


def converted(spec: str) -> str:
    """``convert --to onnx`` of the module's weights: ``works`` where the file was written,
    which it is only after it ran right at 12 shapes (L of 1 to 100, N of 1 to 5)."""
    import tempfile
    from pathlib import Path

    from rnninspect.base.errors import SpecError
    from rnninspect.core.build import torch_module
    from rnninspect.model.spec import resolve

    parsed = resolve(spec, {})
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model.pt"
        torch.save(torch_module(parsed).state_dict(), checkpoint)
        try:
            report = rnninspect.convert_to_onnx(
                checkpoint, Path(folder) / "model.onnx", batch_first=parsed.batch_first
            )
        except SpecError:
            return "refuses"
    return "works" if report.written else "fails"


def main() -> None:
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    import onnxruntime

    print(
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    header = ["module", "compile", "export", "onnx (dynamo)", "onnx (legacy)", "convert --to onnx"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for spec in CONFIGS:
        cells = []
        for runtime, exporter in RUNS:
            report = rnninspect.verify(
                spec, runtimes=(runtime,), exporter=exporter, compile_backend="inductor"
            )
            cells.append(outcome(report.runtimes))
        cells.append(converted(spec))
        print(f"| `{spec}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
