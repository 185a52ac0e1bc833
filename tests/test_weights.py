"""--weights FILE --prefix P: verify and bench on a checkpoint's trained weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from clirun import invoke
from safetensors.torch import save_file
from torch import nn


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.LSTM(6, 12, num_layers=2, bidirectional=True)
        self.decoder = nn.GRUCell(8, 16)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    model = Model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)  # saturating, as trained weights are
    path = tmp_path / "trained.pt"
    torch.save({"model": model.state_dict(), "epoch": 9}, path)
    return path


def run(*args: str) -> tuple[int, str, str]:
    done = invoke(*args)
    return done.code, done.out, done.err


def test_verify_uses_the_trained_weights(checkpoint: Path) -> None:
    code, out, err = run(
        "verify",
        "--weights",
        str(checkpoint),
        "--prefix",
        "model.encoder",
        "--batch-first",
        "--dtype",
        "float64",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["hidden_size"] == 12 and doc["config"]["bidirectional"] is True
    assert doc["config"]["batch_first"] is True  # not recorded by weights: from the options
    assert doc["weights"] == f"{checkpoint}, prefix 'model.encoder'"
    assert any("trained weights from" in note for note in doc["notes"])


def test_weights_really_replace_the_random_ones(checkpoint: Path) -> None:
    trained = run(
        "verify", "--weights", str(checkpoint), "--prefix", "model.decoder", "--format", "json"
    )[1]
    random = run("verify", "nn.GRUCell(8, 16)", "--format", "json")[1]
    grads = [
        {r["tensor"]: r["worst_expected"] for r in json.loads(doc)["parity"]}
        for doc in (trained, random)
    ]
    assert grads[0]["h1"] != grads[1]["h1"]


def test_safetensors_and_bench(tmp_path: Path) -> None:
    path = tmp_path / "rnn.safetensors"
    save_file(nn.RNN(3, 5, bias=False).state_dict(), str(path))
    code, out, err = run("bench", "--weights", str(path), "--min-time", "0.01", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["spec"] == "nn.RNN(3, 5, bias=False)" and doc["weights"] == str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "holds 2 recurrent modules: choose one with --prefix ('model.encoder', "
            "'model.decoder')",
        ),
        (["--prefix", "model.nothing"], "--prefix 'model.nothing': no recurrent module there"),
        (
            ["--prefix", "model.encoder", "--hidden-size", "5"],
            "hidden_size 5 disagrees with the weights, which record hidden_size 12",
        ),
        (
            ["--prefix", "model.encoder", "--weight-scale", "2"],
            "--weight-scale scales torch's initialisation",
        ),
    ],
)
def test_bad_weights_usage(checkpoint: Path, args: list[str], message: str) -> None:
    code, out, err = run("verify", "--weights", str(checkpoint), *args)
    assert code == 2 and out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1 and message in err


def test_prefix_needs_weights_and_bench_cannot_sweep_fixed_sizes(checkpoint: Path) -> None:
    code, _, err = run("verify", "--prefix", "x")
    assert code == 2 and "--prefix needs --weights FILE" in err
    code, _, err = run(
        "bench",
        "--weights",
        str(checkpoint),
        "--prefix",
        "model.encoder",
        "--sweep",
        "hidden_size=4,8",
    )
    assert code == 2 and "fixed by the checkpoint" in err


def test_spec_settings_the_weights_do_not_record_are_kept(checkpoint: Path) -> None:
    code, out, err = run(
        "verify",
        "nn.LSTM(6, 12, num_layers=2, bidirectional=True, batch_first=True)",
        "--weights",
        str(checkpoint),
        "--prefix",
        "model.encoder",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["config"]["batch_first"] is True
