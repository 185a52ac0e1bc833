"""``rnninspect vectors``: golden numbers for ports, read back by a reader written only from the
manifest's description; ``vectors --check``; ``verify --vectors`` catching planted faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tests.clirun import Invocation

IMPLS = Path(__file__).parent / "impls" / "manual.py"


def _read_as_the_manifest_says(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest, and every tensor it lists, read with numpy, safetensors or json alone,
    as its ``format`` and ``encoding`` describe (no rnninspect code)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / manifest["file"]
    if manifest["format"] == "npz":
        with np.load(path) as found:
            arrays = {name: found[name] for name in found.files}
    elif manifest["format"] == "safetensors":
        from safetensors.numpy import load_file

        arrays = dict(load_file(str(path)))
    else:
        document = json.loads(path.read_text())["tensors"]
        arrays = {
            name: np.array(entry["data"], dtype=entry["dtype"]).reshape(entry["shape"])
            for name, entry in document.items()
        }
    for entry in manifest["tensors"]:
        assert list(arrays[entry["name"]].shape) == entry["shape"], entry
        assert str(arrays[entry["name"]].dtype) == entry["dtype"]
    assert {entry["name"] for entry in manifest["tensors"]} == set(arrays)
    return manifest, arrays


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "json"])
@pytest.mark.parametrize(
    "spec",
    [
        "nn.LSTM(3, 4, num_layers=2, bidirectional=True)",
        "nn.GRU(3, 4, batch_first=True)",
        "nn.RNN(3, 4, nonlinearity='relu')",
        "nn.GRUCell(3, 4)",
    ],
)
def test_the_vectors_are_what_torch_computes(
    fmt: str, spec: str, cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    """Read back from the manifest's description, the parameters loaded into torch's module
    on the stored input and states give the stored outputs, and its backward pass with the
    stored upstream gradients gives the stored gradients (to float64 rounding)."""
    result = cli("vectors", spec, "-o", tmp_path / "v", "--format", fmt, "--report", "json")
    assert result.code == 0, result.err
    manifest, arrays = _read_as_the_manifest_says(tmp_path / "v")
    assert manifest["spec"] == spec and manifest["versions"]["torch"] == torch.__version__
    config = manifest["config"]
    kwargs = {"input_size": config["input_size"], "hidden_size": config["hidden_size"]}
    if "Cell" not in spec:
        kwargs.update(
            num_layers=config["num_layers"],
            bidirectional=config["bidirectional"],
            batch_first=config["batch_first"],
        )
    if spec.startswith("nn.RNN"):
        kwargs["nonlinearity"] = config["nonlinearity"]
    module = getattr(nn, spec.split("(")[0].removeprefix("nn."))(**kwargs).double()
    module.load_state_dict(
        {
            k.removeprefix("param:"): torch.from_numpy(v)
            for k, v in arrays.items()
            if k[:6] == "param:"
        }
    )
    x = torch.from_numpy(arrays["input"]).requires_grad_(True)
    h0 = torch.from_numpy(arrays["h0"]).requires_grad_(True)
    if "Cell" in spec:
        outputs = {"h1": module(x, h0)}
    elif "LSTM" in spec:
        c0 = torch.from_numpy(arrays["c0"]).requires_grad_(True)
        output, (h_n, c_n) = module(x, (h0, c0))
        outputs = {"output": output, "h_n": h_n, "c_n": c_n}
    else:
        output, h_n = module(x, h0)
        outputs = {"output": output, "h_n": h_n}
    for name, value in outputs.items():
        assert np.allclose(value.detach().numpy(), arrays[name], atol=1e-12, rtol=1e-10), name
    torch.autograd.backward(
        list(outputs.values()), [torch.from_numpy(arrays[f"upstream:{n}"]) for n in outputs]
    )
    assert x.grad is not None and np.allclose(x.grad.numpy(), arrays["grad:input"], atol=1e-12)
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None
        assert np.allclose(parameter.grad.numpy(), arrays[f"grad:{name}"], atol=1e-12), name
    rows = manifest["torch_module"]["rows"]
    assert rows and all(row["atol"] > 0 and row["verdict"] == "pass" for row in rows)


def test_the_onnx_and_keras_layouts(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    result = cli(
        "vectors", "nn.GRU(3, 4)", "-o", tmp_path / "v", "--layout", "onnx", "--layout", "keras"
    )
    assert result.code == 0, result.err
    _, arrays = _read_as_the_manifest_says(tmp_path / "v")
    w_ih = arrays["param:weight_ih_l0"]  # torch's r, z, n
    r, z, n = np.split(w_ih, 3)
    assert np.array_equal(arrays["onnx:W_l0"][0], np.concatenate([z, r, n]))  # ONNX's z, r, h
    assert np.array_equal(arrays["keras:layer0/forward/kernel"], np.concatenate([z, r, n]).T)
    assert arrays["keras:layer0/forward/bias"].shape == (2, 12)  # Keras's reset_after bias


def test_a_matrix_writes_a_folder_per_case(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text('[matrix]\ncell = ["lstm", "gru"]\nhidden_size = [4]\ninput_size = [3]\n')
    result = cli("vectors", "--matrix", matrix, "-o", tmp_path / "v", "--format", "json")
    assert result.code == 0, result.err
    folders = sorted(p for p in (tmp_path / "v").iterdir())
    assert len(folders) == 2
    for folder in folders:
        manifest, _ = _read_as_the_manifest_says(folder)
        assert manifest["config"]["cell"] in ("lstm", "gru")
    assert cli("vectors", "--check", tmp_path / "v").code == 0


def test_check_reports_drift(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    assert cli("vectors", "nn.LSTM(3, 4)", "-o", tmp_path / "v").code == 0
    same = cli("vectors", "--check", tmp_path / "v", "--report", "json")
    assert same.code == 0 and same.document["ok"]
    path = tmp_path / "v" / "vectors.npz"
    with np.load(path) as found:
        arrays = {name: found[name] for name in found.files}
    arrays["grad:weight_hh_l0"] = arrays["grad:weight_hh_l0"] + 1e-4
    np.savez(path, **arrays)
    moved = cli("vectors", "--check", tmp_path / "v", "--report", "json")
    assert moved.code == 1
    (entry,) = moved.document["sets"]
    drifted = [t for t in entry["tensors"] if t["status"] == "drifted"]
    assert [t["tensor"] for t in drifted] == ["grad:weight_hh_l0"]


def test_verify_against_vectors_catches_a_planted_fault(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    folder = tmp_path / "v"
    assert cli("vectors", "nn.LSTM(3, 4, num_layers=2)", "-o", folder).code == 0
    torch_side = cli("verify", "--vectors", folder, "--format", "json")
    assert torch_side.code == 0 and torch_side.document["verdict"] == "pass"
    right = cli("verify", "--vectors", folder, "--impl", f"{IMPLS}:LSTM")
    assert right.code == 0, right.out
    wrong = cli(
        "verify", "--vectors", folder, "--impl", f"{IMPLS}:LSTMOutputOff", "--format", "json"
    )
    assert wrong.code == 1
    failing = {row["tensor"] for row in wrong.document["parity"] if row["verdict"] == "fail"}
    assert "output" in failing


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nn.GRU(3, 4)"], "give -o DIR"),
        (["nn.GRU(3, 4)", "-o", "{tmp}/full"], "not empty"),
        (["nn.GRU(3, 4)", "--matrix", "m.toml", "-o", "{tmp}/x"], "takes no SPEC"),
        (["--check", "{tmp}/nothing"], "no manifest.json"),
    ],
)
def test_bad_input_is_refused(
    args: list[str], said: str, cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "m.toml").write_text('[[case]]\nspec = "nn.GRU(3, 4)"\n')
    args = [
        a.replace("{tmp}", str(tmp_path)).replace("m.toml", str(tmp_path / "m.toml")) for a in args
    ]
    result = cli("vectors", *args)
    assert result.code == 2 and said in result.err, result.err


def test_verify_vectors_refuses_what_the_folder_decides(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    assert cli("vectors", "nn.GRU(3, 4)", "-o", tmp_path / "v").code == 0
    for args in (["nn.GRU(3, 4)"], ["--hidden-size", "8"], ["--onnx", "x.onnx"]):
        result = cli("verify", *args, "--vectors", tmp_path / "v")
        assert result.code == 2 and "--vectors DIR" in result.err
    assert cli("verify", "--vectors", tmp_path / "missing").code == 2


def test_every_json_key_is_in_json_md(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    from tests.test_docs import _all_keys_described

    folder = tmp_path / "v"
    _all_keys_described(cli("vectors", "nn.GRU(3, 4)", "-o", folder, "--report", "json").document)
    _all_keys_described(cli("vectors", "--check", folder, "--report", "json").document)
    _all_keys_described(cli("verify", "--vectors", folder, "--format", "json").document)
