"""verify on a CUDA device: every dtype, TF32 on and off. Skipped without CUDA."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main

pytestmark = pytest.mark.cuda

SPECS = [
    "nn.LSTM(16, 32, num_layers=2, bidirectional=True)",
    "nn.LSTM(16, 32, proj_size=8, batch_first=True)",
    "nn.GRU(16, 32, num_layers=2)",
    "nn.RNN(16, 32, nonlinearity='relu', bidirectional=True)",
    "nn.LSTMCell(16, 32)",
    "nn.GRUCell(16, 32)",
]


def verify(*args: str) -> tuple[int, dict[str, object], str]:
    done = invoke("verify", *args, "--device", "cuda", "--format", "json")
    return done.code, done.document, done.err


RELU_HALF = pytest.mark.xfail(
    reason="a cuDNN relu RNN in bfloat16 had single backward steps that disagreed with the "
    "reference on the module's own branches (H100, cuDNN 9.19); the step check no longer sends "
    "gradient to pre-activations at the kink, not yet re-checked on a GPU",
    strict=False,
)


def cases() -> list[object]:
    out: list[object] = []
    for dtype in ("float32", "float64", "float16", "bfloat16"):
        for spec in SPECS:
            relu_half = "relu" in spec and dtype in ("float16", "bfloat16")
            out.append(pytest.param(spec, dtype, marks=[RELU_HALF] if relu_half else []))
    return out


@pytest.mark.parametrize(("spec", "dtype"), cases())
def test_cuda_module_passes(spec: str, dtype: str) -> None:
    code, doc, err = verify(spec, "--dtype", dtype)
    assert code == 0, (err, [r for r in doc["parity"] if not r["ok"]])  # type: ignore[union-attr]
    assert doc["device"] == "cuda"
    assert doc["dtype"] == dtype
    assert doc["tf32"] is False


@pytest.mark.parametrize("spec", SPECS[:3])
def test_cuda_tf32_allowed_widens_tolerance(spec: str) -> None:
    code, doc, err = verify(spec, "--tf32")
    assert code == 0, err
    assert doc["tf32"] is True
    assert {r["atol"] for r in doc["parity"]} == {1e-2}  # type: ignore[union-attr]
    assert any("TF32 allowed" in note for note in doc["notes"])  # type: ignore[union-attr]


def test_cuda_reports_cudnn() -> None:
    code, doc, _ = verify("nn.LSTM(8, 16)")
    assert code == 0
    info = doc["device_info"]
    assert isinstance(info, dict) and info["cudnn"] and info["name"]


def test_cuda_catches_a_planted_fault() -> None:
    code, doc, _ = verify("nn.LSTM(8, 16)", "--impl", "tests/impls/manual.py:LSTMWrongGateOrder")
    assert code == 1
    assert doc["verdict"] == "fail"


def test_cuda_bench_times_cudnn_on_and_off_and_peak_memory() -> None:
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "nn.LSTM(16, 32)",
            "--device",
            "cuda",
            "--backward",
            "--min-time",
            "0.05",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc["timing_without_cudnn"]) == {"module", "module_backward"}
    assert doc["memory"]["peak_forward_bytes"] > 0 and doc["memory"]["peak_backward_bytes"] > 0
    assert doc["device_info"]["cudnn"]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cuda_packed_sequences(cell: str) -> None:
    code, doc, err = verify(
        "--cell", cell, "--num-layers", "2", "--bidirectional", "--lengths", "6,1,4,3"
    )
    assert code == 0, (err, [r for r in doc["parity"] if not r["ok"]])  # type: ignore[union-attr]
    assert doc["config"]["lengths"] == [6, 1, 4, 3]  # type: ignore[index]
