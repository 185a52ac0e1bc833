"""rnninspect convert: torch checkpoints to Keras files and back, every module checked by running
both frameworks on the file written (skipped where Keras is not installed; CI installs it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from clirun import invoke
from torch import nn

from rnninspect.cli import main
from rnninspect.commands.keras import mapping

#: Every family with and without bias, one-way and bidirectional, of one and two layers.
VARIANTS = [
    (bias, bidirectional, layers)
    for bias in (True, False)
    for bidirectional in (False, True)
    for layers in (1, 2)
]


def convert(*args: str | Path) -> tuple[int, dict[str, object], str]:
    done = invoke("convert", *args, "--format", "json")
    return done.code, done.document, done.err


def checkpoint(family: str) -> dict[str, torch.Tensor]:
    """One state dict holding a module of ``family`` for every variant, under ``m<i>.rnn``."""
    torch.manual_seed(0)
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[family]
    state = {}
    for index, (bias, bidirectional, layers) in enumerate(VARIANTS):
        module = cls(3, 4, num_layers=layers, bias=bias, bidirectional=bidirectional)
        state |= {f"m{index}.rnn.{k}": v for k, v in module.state_dict().items()}
    return state


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
def test_torch_to_keras_to_torch(family: str, tmp_path: Path, keras: Any) -> None:
    original = checkpoint(family)
    torch.save({"model": original, "step": 7}, tmp_path / "ck.pt")
    code, doc, _ = convert(tmp_path / "ck.pt", "--to", "keras", "-o", tmp_path / "m.keras")
    assert code == 0 and doc["written"] is True, doc
    modules = doc["modules"]
    assert isinstance(modules, list) and len(modules) == len(VARIANTS)
    assert all(row["verdict"] == "pass" for m in modules for row in m["parity"])
    two_layers = next(m for m in modules if "num_layers=2" in m["spec"])
    assert two_layers["keras_layers"] == ["model__m1__rnn_l0", "model__m1__rnn_l1"]

    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "back.pt")
    assert code == 0 and doc["written"] is True, doc
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert set(back) == {f"model.{key}" for key in original}
    for key, value in original.items():
        returned = back[f"model.{key}"]
        if family == "gru" or "bias" not in key:
            assert torch.equal(returned, value), key  # bit for bit
        elif "bias_ih" in key:  # Keras keeps the sum of the two, exactly that sum comes back
            assert torch.equal(returned, value + original[key.replace("_ih", "_hh")]), key
        else:
            assert torch.equal(returned, torch.zeros_like(value)), key

    # Keras -> torch -> Keras: nothing is lost that way round
    code, _, _ = convert(tmp_path / "back.pt", "--to", "keras", "-o", tmp_path / "again.keras")
    assert code == 0
    code, _, _ = convert(tmp_path / "again.keras", "--to", "torch", "-o", tmp_path / "b2.pt")
    again = torch.load(tmp_path / "b2.pt", weights_only=True)
    assert code == 0 and all(torch.equal(again[k], back[k]) for k in back)


def test_a_keras_model_of_its_own_converts(tmp_path: Path, keras: Any) -> None:
    x = keras.Input((None, 3))
    y = keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True), name="enc")(x)
    y = keras.layers.LSTM(4, return_sequences=True, name="dec")(y)
    y = keras.layers.SimpleRNN(2, activation="relu", name="out_l0")(y)
    keras.Model(x, y).save(tmp_path / "own.keras")
    code, doc, _ = convert(tmp_path / "own.keras", "--to", "torch", "-o", tmp_path / "own.pt")
    assert code == 0, doc
    specs = {m["torch_prefix"]: m["spec"] for m in doc["modules"]}  # type: ignore[union-attr]
    assert specs == {
        "enc": "nn.GRU(3, 5, bidirectional=True)",
        "dec": "nn.LSTM(10, 4)",
        "out": "nn.RNN(4, 2, nonlinearity='relu')",
    }
    result = CliRunner().invoke(main, ["infer", str(tmp_path / "own.pt"), "--format", "json"])
    assert result.exit_code == 0 and "nn.GRU(3, 5, bidirectional=True)" in result.stdout


def test_weights_files_and_safetensors(tmp_path: Path, keras: Any) -> None:
    torch.save(nn.LSTM(3, 4, bidirectional=True).state_dict(), tmp_path / "bare.pt")
    code, doc, _ = convert(tmp_path / "bare.pt", "--to", "keras", "-o", tmp_path / "w.weights.h5")
    assert code == 0 and doc["modules"][0]["keras_layers"] == ["l0"]  # type: ignore[index]
    # weights alone hold no settings: refused, unless the defaults are assumed, and then unchecked
    code, doc, stderr = convert(
        tmp_path / "w.weights.h5", "--to", "torch", "-o", tmp_path / "w.safetensors"
    )
    assert code == 2 and "holds weights alone" in stderr and "--architecture" in stderr
    assert not (tmp_path / "w.safetensors").exists()
    code, doc, stderr = convert(
        tmp_path / "w.weights.h5",
        "--to",
        "torch",
        "-o",
        tmp_path / "w.safetensors",
        "--assume-defaults",
    )
    assert code == 0 and doc["verdict"] == "unchecked" and doc["ok"] is False
    module = doc["modules"][0]  # type: ignore[index]
    assert module["spec"] == "nn.LSTM(3, 4, bidirectional=True)"
    assert module["verdict"] == "unchecked" and "go_backwards=False" in module["assumed"]
    assert "merge_mode='concat'" in module["assumed"]
    result = CliRunner().invoke(main, ["infer", str(tmp_path / "w.safetensors")])
    assert result.exit_code == 0


def test_cells_round_trip(tmp_path: Path, keras: Any) -> None:
    state = {
        f"{n}.{k}": v
        for n, c in (("a", nn.GRUCell(3, 4)), ("b", nn.LSTMCell(3, 4)))
        for k, v in c.state_dict().items()
    }
    torch.save(state, tmp_path / "cells.pt")
    code, doc, _ = convert(tmp_path / "cells.pt", "--to", "keras", "-o", tmp_path / "c.keras")
    assert code == 0, doc
    rows = [row["tensor"] for m in doc["modules"] for row in m["parity"]]  # type: ignore[union-attr]
    assert rows == ["h1", "h1", "c1"]
    code, doc, _ = convert(tmp_path / "c.keras", "--to", "torch", "-o", tmp_path / "c.pt")
    back = torch.load(tmp_path / "c.pt", weights_only=True)
    assert code == 0 and set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state if k.startswith("a."))


def test_a_wrong_gate_order_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras: Any
) -> None:
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    out = tmp_path / "gru.keras"
    out.write_text("what was here before")
    monkeypatch.setattr(mapping, "GRU_FROM_TORCH", (0, 1, 2))  # torch's order left as it is
    code, doc, _ = convert(tmp_path / "gru.pt", "--to", "keras", "-o", out)
    assert code == 1 and doc["written"] is False
    assert all(row["verdict"] == "fail" for row in doc["modules"][0]["parity"])  # type: ignore[index]
    assert out.read_text() == "what was here before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gru.keras", "gru.pt"]


def test_what_cannot_convert_exactly_is_refused(tmp_path: Path, keras: Any) -> None:
    torch.save(nn.LSTM(3, 4, proj_size=2).state_dict(), tmp_path / "proj.pt")
    code, _, stderr = convert(tmp_path / "proj.pt", "--to", "keras", "-o", tmp_path / "p.keras")
    assert code == 2 and "Keras's LSTM has no projection" in stderr
    cases = {
        "reset_before": keras.layers.GRU(4, reset_after=False),
        "hard_sigmoid": keras.layers.LSTM(4, recurrent_activation="hard_sigmoid"),
        "sigmoid": keras.layers.SimpleRNN(4, activation="sigmoid"),
        "stacked_bidirectional": keras.layers.Bidirectional(
            keras.layers.RNN([keras.layers.GRUCell(4), keras.layers.GRUCell(4)])
        ),
        "mixed_cells": keras.layers.RNN([keras.layers.LSTMCell(4), keras.layers.GRUCell(4)]),
    }
    reasons = {
        "reset_before": "reset_after=False, which no torch module computes",
        "hard_sigmoid": "torch's gates are fixed to tanh and sigmoid",
        "sigmoid": "torch's RNN has tanh or relu",
        "stacked_bidirectional": "each direction's stack on its own",
        "mixed_cells": "stacked cells of different kinds",
    }
    for name, layer in cases.items():
        x = keras.Input((None, 3))
        keras.Model(x, layer(x)).save(tmp_path / f"{name}.keras")
        code, _, stderr = convert(
            tmp_path / f"{name}.keras", "--to", "torch", "-o", tmp_path / f"{name}.pt"
        )
        assert code == 2 and reasons[name] in stderr, (name, stderr)
        assert not (tmp_path / f"{name}.pt").exists()


def test_bad_requests_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    for args, message in [
        (["nothing.pt", "--to", "keras", "-o", "x.keras"], "no such file"),
        (["gru.pt", "--to", "keras", "-o", "x.h5"], "writes .keras, .weights.h5"),
        (["gru.pt", "--to", "torch", "-o", "x.pt"], "already a torch file"),
        (["gru.pt", "--to", "keras", "-o", "x.keras", "--prefix", "enc"], "--prefix 'enc'"),
        (["gru.pt", "--to", "keras", "-o", "no/such/dir/x.keras"], "does not exist"),
    ]:
        result = CliRunner().invoke(main, ["convert", *args], catch_exceptions=False)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], (args, lines)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    code, _, stderr = convert(tmp_path / "broken.keras", "--to", "torch", "-o", "x.pt")
    assert code == 2 and "Keras cannot load it" in stderr


def test_without_keras_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    monkeypatch.setitem(sys.modules, "keras", None)
    code, _, stderr = convert(tmp_path / "gru.pt", "--to", "keras", "-o", tmp_path / "g.keras")
    assert code == 3
    assert stderr.strip() == "Error: convert needs Keras: pip install 'rnninspect[keras]'"
