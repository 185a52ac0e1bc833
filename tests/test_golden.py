"""Golden output: the table and markdown views of every command, as a person and an issue
reader see them, on a fixed 100-column console without colour (torchinfo's way, with rich's
fixed-width console). What varies between machines (timings, memory limits, versions, the last
digits of measured errors) is masked; the layout is not.

After a change to a view, look at the output and regenerate the files:

    python -m pytest tests/test_golden.py --overwrite-golden

and review them in the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from rnninspect.cli import main

GOLDEN = Path(__file__).parent / "golden"

#: Each command's case: its arguments (a checkpoint made by the fixture is ``{checkpoint}``).
CASES = {
    "shapes": ["shapes", "nn.LSTM(10, 20, num_layers=2, bidirectional=True)", "--batch", "7"],
    "shapes-cell": ["shapes", "nn.GRUCell(4, 8)", "--unbatched"],
    "verify": ["verify", "nn.GRU(10, 20, num_layers=2)", "--timing", "off"],
    "explain": ["explain", "nn.LSTM(10, 20, bidirectional=True, batch_first=True)"],
    "diagnose": ["diagnose", "nn.GRU(10, 20)", "--input-shape", "7,5,10", "--h0-shape", "2,7,20"],
    "keras": ["keras", "nn.LSTM(10, 20, num_layers=2)"],
    "infer": ["infer", "{checkpoint}"],
    "bench": ["bench", "nn.GRU(4, 8)", "--min-time", "0.01"],
    "conformance": [
        "conformance",
        "--runtime",
        "onnxruntime",
        "--op",
        "lstm,rnn",
        "--filter",
        "rnn-forward-nobias,lstm-forward-clip-lens,rnn-f=Affine-defaults,rnn-reverse-layout1",
    ],
    "verify-onnx-file": ["verify", "--onnx", "{onnx}"],
    "vectors": [
        "vectors",
        "nn.GRU(4, 8, bidirectional=True)",
        "-o",
        "{folder}",
        "--layout",
        "onnx",
    ],
}
#: The cases that run ONNX Runtime (rnninspect[onnx]).
NEEDS_ONNX = ("conformance", "verify-onnx-file")

#: What differs from machine to machine and run to run, and what stands in for it.
MASKS = [
    (re.compile(r"\d\.\d\de[-+]\d\d"), "<error>"),  # measured errors: their last digits
    (re.compile(r"\b\d[\d,]*(\.\d+)? ms\b"), "<t> ms"),
    (re.compile(r"limit [\d.]+ ?[KMGT]?i?B"), "limit <memory>"),
    (re.compile(r"(torch|python|rnninspect) \d[\w.+]*"), r"\1 <version>"),
    (re.compile(r"\d+ CPU threads"), "<n> CPU threads"),
    (re.compile(r"ONNX Runtime \d[\w.]*"), "ONNX Runtime <version>"),
    (re.compile(r"in \d+\.\d s \(\d+/s\)"), "in <t> s (<n>/s)"),
]

#: bench: every timing, rate and ratio, and whether the machine was loaded.
BENCH_MASKS = [
    (re.compile(r"^- (UNSTABLE|Timings may be slow).*\n", re.M), ""),
    (re.compile(r" unstable\b"), ""),
    (re.compile(r"\b\d[\d,]*\.\d+\b|\b\d{1,3}(,\d{3})+\b|(?<=\| )\d+(?= \|)"), "<n>"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    encoder = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    path = tmp_path_factory.mktemp("golden") / "model.pt"
    state = {f"encoder.rnn.{k}": v for k, v in encoder.state_dict().items()}
    state["head.weight"] = torch.zeros(5, 40)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer GRU exported by torch's legacy exporter, L and N dynamic."""
    import warnings

    pytest.importorskip("onnx")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("golden") / "gru.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            torch.nn.GRU(4, 8, num_layers=2),
            (torch.randn(5, 3, 4),),
            path,
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "L", 1: "N"}},
        )
    return path


def _masked(text: str, checkpoint: Path, name: str) -> str:
    text = text.replace(str(checkpoint), "model.pt")
    for pattern, stand_in in MASKS + (BENCH_MASKS if name == "bench" else []):
        text = pattern.sub(stand_in, text)
    return text


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_view_is_the_golden_one(
    name: str, fmt: str, checkpoint: Path, request: pytest.FixtureRequest
) -> None:
    if name == "bench" and fmt == "table":  # bench's table is all timings: its markdown stands
        pytest.skip("every number in bench's table is a timing")
    if name in NEEDS_ONNX:
        pytest.importorskip("onnxruntime")
    args = [arg.replace("{checkpoint}", str(checkpoint)) for arg in CASES[name]]
    if "{onnx}" in args:  # run beside the file, named as a user names it
        onnx_file = request.getfixturevalue("onnx_path")
        request.getfixturevalue("monkeypatch").chdir(onnx_file.parent)
        args = [arg.replace("{onnx}", onnx_file.name) for arg in args]
    view = ["--format", fmt]
    if "{folder}" in args:  # vectors writes a folder, and its --format names the file it writes
        request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
        args = [arg.replace("{folder}", "golden-vectors") for arg in args]
        view = ["--report", fmt]
    result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(main, [*args, *view])
    assert result.exit_code in (0, 1), result.stderr
    text = _masked(result.stdout, checkpoint, name)
    path = GOLDEN / f"{name}.{'txt' if fmt == 'table' else 'md'}"
    if request.config.getoption("--overwrite-golden"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path.name}: run with --overwrite-golden and review it"
    assert text == path.read_text(), f"{path.name} differs: review, then --overwrite-golden"
