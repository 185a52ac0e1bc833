"""convert --to torch of Keras models that Keras itself built and saved: every verdict set beside
this test's own comparison of the user's Keras model with the torch module written (the torch
code the report prints applied by hand), never taken on rnninspect's word.

Skipped where Keras is not installed; CI installs it and fails on such a skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from clirun import invoke
from torch import nn

from rnninspect.cli import main


def convert(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    done = invoke("convert", *args, "--format", "json")
    return done.code, done.document, done.err


def sequence(features: int, seed: int = 0) -> np.ndarray:
    """A batch of 2 sequences of 6 steps, (N, L, H_in) as Keras takes it."""
    return np.random.RandomState(seed).randn(2, 6, features).astype("float32")


def keras_run(model: Any, x: np.ndarray) -> list[torch.Tensor]:
    with torch.no_grad():
        found = model(x)
    flat = found if isinstance(found, list | tuple) else [found]
    return [torch.as_tensor(value).detach() for value in flat]


def loaded(path: Path, prefix: str, module: nn.Module) -> nn.Module:
    state = torch.load(path, weights_only=True)
    start = f"{prefix}." if prefix else ""
    module.load_state_dict({k[len(start) :]: v for k, v in state.items() if k.startswith(start)})
    return module.eval()


def batch_first_run(module: nn.Module, x: np.ndarray) -> tuple[torch.Tensor, Any]:
    with torch.no_grad():
        output, final = module(torch.from_numpy(x).transpose(0, 1))
    return output.transpose(0, 1), final


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.to(b.dtype), b, atol=1e-5)


# --- 1: layers are stacked by the graph, not by their names --------------------------------


def test_parallel_branches_named_like_a_stack_stay_two_modules(tmp_path: Path, keras: Any) -> None:
    x = keras.Input((None, 8))
    a = keras.layers.LSTM(8, return_sequences=True, name="br_l0")(x)
    b = keras.layers.LSTM(8, return_sequences=True, name="br_l1")(x)
    model = keras.Model(x, [a, b])
    model.save(tmp_path / "m.keras")
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 0 and doc["verdict"] == "pass", doc
    assert {m["torch_prefix"]: m["spec"] for m in doc["modules"]} == {
        "br_l0": "nn.LSTM(8, 8)",
        "br_l1": "nn.LSTM(8, 8)",
    }
    data = sequence(8)
    want = keras_run(model, data)
    for index, prefix in enumerate(("br_l0", "br_l1")):
        output, _ = batch_first_run(loaded(tmp_path / "m.pt", prefix, nn.LSTM(8, 8)), data)
        assert close(output, want[index])  # each branch is its own LSTM on the input


def test_a_layer_between_two_named_layers_keeps_them_apart(tmp_path: Path, keras: Any) -> None:
    x = keras.Input((None, 8))
    y = keras.layers.GRU(8, return_sequences=True, name="enc_l0")(x)
    middle = keras.layers.Dense(8, name="mid")
    y = keras.layers.GRU(8, return_sequences=True, name="enc_l1")(middle(y))
    model = keras.Model(x, y)
    model.save(tmp_path / "m.keras")
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 0 and doc["verdict"] == "pass", doc
    assert [m["torch_prefix"] for m in doc["modules"]] == ["enc_l0", "enc_l1"]
    assert any("'mid' (Dense" in line for line in doc["not_converted"])
    data = sequence(8)
    first, _ = batch_first_run(loaded(tmp_path / "m.pt", "enc_l0", nn.GRU(8, 8)), data)
    kernel, bias = (torch.as_tensor(np.asarray(w)) for w in middle.get_weights())
    second, _ = batch_first_run(
        loaded(tmp_path / "m.pt", "enc_l1", nn.GRU(8, 8)), (first @ kernel + bias).numpy()
    )
    assert close(second, keras_run(model, data)[0])


def test_layers_the_graph_connects_become_one_stacked_module(tmp_path: Path, keras: Any) -> None:
    x = keras.Input((None, 4))
    y = keras.layers.GRU(6, return_sequences=True, name="enc_l0")(x)
    y = keras.layers.GRU(6, return_sequences=True, name="enc_l1")(y)
    model = keras.Model(x, y)
    model.save(tmp_path / "m.keras")
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 0 and doc["verdict"] == "pass", doc
    assert [(m["torch_prefix"], m["spec"]) for m in doc["modules"]] == [
        ("enc", "nn.GRU(4, 6, num_layers=2)")
    ]
    data = sequence(4)
    output, _ = batch_first_run(loaded(tmp_path / "m.pt", "enc", nn.GRU(4, 6, 2)), data)
    assert close(output, keras_run(model, data)[0])


def test_a_broken_conversion_is_caught_on_the_users_own_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras: Any
) -> None:
    """The check runs the model's layers, so a wrong gate order fails and writes nothing."""
    from rnninspect.commands.keras import mapping

    x = keras.Input((None, 4))
    keras.Model(x, keras.layers.GRU(5, name="g")(x)).save(tmp_path / "m.keras")
    monkeypatch.setattr(mapping, "GRU_FROM_TORCH", (0, 1, 2))
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 1 and doc["written"] is False and doc["verdict"] == "fail"
    assert not (tmp_path / "m.pt").exists()


# --- 2, 8: settings, read from the model or assumed and said -------------------------------


def _saved(tmp_path: Path, keras: Any, name: str, layer: Any, features: int = 3) -> Any:
    x = keras.Input((None, features))
    model = keras.Model(x, layer(x))
    model.save(tmp_path / f"{name}.keras")
    model.save_weights(tmp_path / f"{name}.weights.h5")
    (tmp_path / f"{name}.json").write_text(model.to_json())
    return model


@pytest.mark.parametrize(
    ("setting", "options"),
    [
        ("go_backwards", {"go_backwards": True}),
        ("hard_sigmoid", {"recurrent_activation": "hard_sigmoid"}),
    ],
)
def test_a_weights_file_alone_is_never_a_pass(
    tmp_path: Path, keras: Any, setting: str, options: dict[str, Any]
) -> None:
    """A .weights.h5 holds no settings: a model with go_backwards or hard_sigmoid converted from
    its weights alone once printed PASS while torch's module differed from it by 0.1 to 0.8."""
    model = _saved(tmp_path, keras, setting, keras.layers.LSTM(5, return_sequences=True, **options))
    weights, out = tmp_path / f"{setting}.weights.h5", tmp_path / "m.pt"
    code, _, stderr = convert(weights, "--to", "torch", "-o", out)
    assert code == 2 and "holds weights alone" in stderr and not out.exists()
    code, doc, _ = convert(weights, "--to", "torch", "-o", out, "--assume-defaults")
    assert code == 0 and doc["verdict"] == "unchecked" and doc["ok"] is False
    assert doc["modules"][0]["verdict"] == "unchecked"
    assert any("go_backwards=False" in a for a in doc["modules"][0]["assumed"])
    data = sequence(3)
    prefix = doc["modules"][0]["torch_prefix"]
    rebuilt, _ = batch_first_run(loaded(out, prefix, nn.LSTM(3, 5)), data)
    assert (rebuilt - keras_run(model, data)[0]).abs().max() > 1e-3  # why it is not a pass

    arch = tmp_path / f"{setting}.json"
    code, doc, stderr = convert(weights, "--to", "torch", "-o", out, "--architecture", arch)
    if setting == "hard_sigmoid":  # read from the model, refused with why
        assert code == 2 and "torch's gates are fixed to tanh and sigmoid" in stderr
        return
    assert code == 0 and doc["verdict"] == "pass", doc
    assert "x.flip(0)" in doc["modules"][0]["torch_code"][0]
    prefix = doc["modules"][0]["torch_prefix"]  # the model's layer name, now it is read
    flipped, _ = batch_first_run(loaded(out, prefix, nn.LSTM(3, 5)), data[:, ::-1].copy())
    assert close(flipped, keras_run(model, data)[0])  # the printed line, applied by hand


def test_a_sigmoid_simple_rnn_is_refused_with_its_architecture(tmp_path: Path, keras: Any) -> None:
    _saved(tmp_path, keras, "s", keras.layers.SimpleRNN(4, activation="sigmoid"))
    code, _, stderr = convert(
        tmp_path / "s.weights.h5",
        "--to",
        "torch",
        "-o",
        tmp_path / "s.pt",
        "--architecture",
        tmp_path / "s.json",
    )
    assert code == 2 and "torch's RNN has tanh or relu" in stderr


@pytest.mark.parametrize("merge", ["sum", "ave", "mul", None])
def test_every_merge_mode_converts_with_its_line_of_torch(
    tmp_path: Path, keras: Any, merge: str | None
) -> None:
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(5, return_sequences=True), merge_mode=merge
    )
    model = _saved(tmp_path, keras, "bi", layer)
    results = {}
    for source, extra in (("keras", []), ("h5", ["--architecture", tmp_path / "bi.json"])):
        given = tmp_path / ("bi.keras" if source == "keras" else "bi.weights.h5")
        code, doc, _ = convert(given, "--to", "torch", "-o", tmp_path / f"{source}.pt", *extra)
        assert code == 0 and doc["verdict"] == "pass", doc
        found = doc["modules"][0]
        results[source] = (found["torch_prefix"], found["spec"], found["torch_code"])
    assert results["keras"] == results["h5"]  # both file paths decide the same way
    prefix, spec, code_lines = results["keras"]
    assert spec == "nn.LSTM(3, 5, bidirectional=True)" and len(code_lines) == 1
    data = sequence(3)
    module = loaded(tmp_path / "keras.pt", prefix, nn.LSTM(3, 5, bidirectional=True))
    output, _ = batch_first_run(module, data)
    forward, backward = output[..., :5], output[..., 5:]
    mine = {
        "sum": [forward + backward],
        "ave": [(forward + backward) / 2],
        "mul": [forward * backward],
        None: [forward, backward],
    }[merge]
    want = keras_run(model, data)
    assert len(want) == len(mine) and all(close(a, b) for a, b in zip(mine, want, strict=True))


def test_keras_rnn_over_cells_converts_to_the_sequence_module(tmp_path: Path, keras: Any) -> None:
    """Bidirectional(RNN(LSTMCell)) was refused as having no Cell equivalent, though
    nn.LSTM(bidirectional=True) computes it; RNN([cell, cell]) is nn.LSTM(num_layers=2)."""
    layers = {
        "bicell": keras.layers.Bidirectional(
            keras.layers.RNN(keras.layers.LSTMCell(5), return_sequences=True)
        ),
        "stacked": keras.layers.RNN(
            [keras.layers.LSTMCell(5), keras.layers.LSTMCell(5)], return_sequences=True
        ),
    }
    torch_modules = {
        "bicell": nn.LSTM(3, 5, bidirectional=True),
        "stacked": nn.LSTM(3, 5, num_layers=2),
    }
    data = sequence(3)
    for name, layer in layers.items():
        model = _saved(tmp_path, keras, name, layer)
        code, doc, _ = convert(tmp_path / f"{name}.keras", "--to", "torch", "-o", tmp_path / "m.pt")
        assert code == 0 and doc["verdict"] == "pass", doc
        module = doc["modules"][0]
        assert (
            module["spec"]
            == {
                "bicell": "nn.LSTM(3, 5, bidirectional=True)",
                "stacked": "nn.LSTM(3, 5, num_layers=2)",
            }[name]
        )
        output, _ = batch_first_run(
            loaded(tmp_path / "m.pt", module["torch_prefix"], torch_modules[name]), data
        )
        assert close(output, keras_run(model, data)[0])


# --- 5: dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_narrow_torch_weights_widen_before_the_biases_are_summed(
    tmp_path: Path, keras: Any, dtype: torch.dtype
) -> None:
    torch.manual_seed(0)
    module = nn.LSTM(3, 4).to(dtype)
    torch.save(module.state_dict(), tmp_path / "m.pt")
    code, doc, stderr = convert(tmp_path / "m.pt", "--to", "keras", "-o", tmp_path / "m.keras")
    assert code == 0 and doc["verdict"] == "pass", (doc, stderr)
    layer = keras.saving.load_model(tmp_path / "m.keras").get_layer("l0")
    bias = torch.as_tensor(np.asarray(layer.get_weights()[2]))
    exact = module.bias_ih_l0.float() + module.bias_hh_l0.float()  # widened, then summed
    assert bias.dtype == torch.float32 and torch.equal(bias, exact)


def test_float64_converts_as_float64_both_ways(tmp_path: Path, keras: Any) -> None:
    x = keras.Input((None, 3), dtype="float64")
    layer = keras.layers.GRU(4, return_sequences=True, dtype="float64", name="g")
    model = keras.Model(x, layer(x))
    model.save(tmp_path / "m.keras")
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 0 and doc["verdict"] == "pass", doc
    module = loaded(tmp_path / "m.pt", "g", nn.GRU(3, 4).double())
    assert all(p.dtype == torch.float64 for p in torch.load(tmp_path / "m.pt").values())
    data = sequence(3).astype("float64")
    output, _ = batch_first_run(module, data)
    assert torch.allclose(output, keras_run(model, data)[0], atol=1e-12)
    code, doc, _ = convert(tmp_path / "m.pt", "--to", "keras", "-o", tmp_path / "back.keras")
    assert code == 0 and doc["verdict"] == "pass", doc
    back = keras.saving.load_model(tmp_path / "back.keras").get_layer("g_l0")
    assert all(np.asarray(w).dtype == np.float64 for w in back.get_weights())


# --- 9: what is left behind is said -------------------------------------------------------


def test_every_tensor_not_converted_is_named(tmp_path: Path, keras: Any) -> None:
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(50, 8)
            self.lstm = nn.LSTM(8, 6)
            self.head = nn.Linear(6, 2)

    torch.save(Tagger().state_dict(), tmp_path / "t.pt")
    code, doc, _ = convert(tmp_path / "t.pt", "--to", "keras", "-o", tmp_path / "t.keras")
    assert code == 0 and [m["torch_prefix"] for m in doc["modules"]] == ["lstm"]
    left = " ".join(doc["not_converted"])
    for name in ("embedding.weight [50, 8]", "head.weight [2, 6]", "head.bias [2]"):
        assert name in left
    text = (
        CliRunner()
        .invoke(
            main,
            ["convert", str(tmp_path / "t.pt"), "--to", "keras", "-o", str(tmp_path / "u.keras")],
        )
        .stdout
    )
    assert "3 tensors not converted" in " ".join(text.split())


def test_keras_layers_left_behind_and_masking_are_said(tmp_path: Path, keras: Any) -> None:
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(50, 8, name="embedding"),
            keras.layers.Masking(0.0, name="masking"),
            keras.layers.LSTM(6, name="lstm"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    model.save(tmp_path / "m.keras")
    code, doc, _ = convert(tmp_path / "m.keras", "--to", "torch", "-o", tmp_path / "m.pt")
    assert code == 0 and [m["torch_prefix"] for m in doc["modules"]] == ["lstm"]
    left = " ".join(doc["not_converted"])
    assert "'embedding' (Embedding; weights [50, 8])" in left and "'head' (Dense" in left
    assert "'masking' (Masking" in left and "pack_padded_sequence" in left


def test_a_bare_cell_comes_back_under_its_own_keys(tmp_path: Path, keras: Any) -> None:
    torch.manual_seed(1)
    cell = nn.LSTMCell(3, 4)
    torch.save(cell.state_dict(), tmp_path / "c.pt")
    code, _, _ = convert(tmp_path / "c.pt", "--to", "keras", "-o", tmp_path / "c.keras")
    assert code == 0
    code, doc, _ = convert(tmp_path / "c.keras", "--to", "torch", "-o", tmp_path / "back.pt")
    assert code == 0 and doc["verdict"] == "pass", doc
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert set(back) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    assert torch.equal(back["weight_ih"], cell.weight_ih)


def test_a_gru_without_bias_written_as_weights_is_read_back(tmp_path: Path, keras: Any) -> None:
    torch.save(nn.GRU(3, 4, bias=False).state_dict(), tmp_path / "g.pt")
    code, _, _ = convert(tmp_path / "g.pt", "--to", "keras", "-o", tmp_path / "g.weights.h5")
    assert code == 0
    code, doc, _ = convert(
        tmp_path / "g.weights.h5", "--to", "torch", "-o", tmp_path / "g2.pt", "--assume-defaults"
    )
    assert code == 0 and doc["verdict"] == "unchecked"
    assert any("reset_after=True" in a for a in doc["modules"][0]["assumed"])
    back = torch.load(tmp_path / "g2.pt", weights_only=True)
    original = torch.load(tmp_path / "g.pt", weights_only=True)
    assert all(
        torch.equal(next(v for k2, v in back.items() if k2.endswith(k)), original[k])
        for k in original
    )


def test_the_new_options_refuse_what_they_do_not_fit(tmp_path: Path, keras: Any) -> None:
    _saved(tmp_path, keras, "m", keras.layers.GRU(4))
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "g.pt")
    (tmp_path / "broken.json").write_text("{not json")
    weights, out = tmp_path / "m.weights.h5", tmp_path / "o.pt"
    for args, message in [
        ([weights, "--to", "torch", "-o", out, "--architecture", tmp_path / "no.json"], "no such"),
        (
            [weights, "--to", "torch", "-o", out, "--architecture", tmp_path / "broken.json"],
            "Keras cannot load it",
        ),
        (
            [
                tmp_path / "m.keras",
                "--to",
                "torch",
                "-o",
                out,
                "--architecture",
                tmp_path / "m.json",
            ],
            "goes with a .weights.h5",
        ),
        (
            [tmp_path / "m.keras", "--to", "torch", "-o", out, "--assume-defaults"],
            "without its architecture",
        ),
        (
            [tmp_path / "g.pt", "--to", "keras", "-o", tmp_path / "g.keras", "--assume-defaults"],
            "--to torch",
        ),
    ]:
        code, _, stderr = convert(*args)
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, stderr)
        assert not out.exists()
