"""infer: recurrent modules found in checkpoints of every usual layout, safely."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from clirun import invoke
from safetensors.torch import save_file
from torch import nn

from rnninspect.cli import main


class Model(nn.Module):
    """Several recurrent modules at different depths, and a layer that is not recurrent."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.rnn = nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)
        self.decoder = nn.GRUCell(8, 16)
        self.tagger = nn.RNN(3, 6, num_layers=3, bias=False, batch_first=True)
        self.attention = nn.GRU(4, 7, bidirectional=True)
        self.cell = nn.LSTMCell(5, 9, bias=False)
        self.head = nn.Linear(3, 4)


EXPECTED = {
    "encoder.rnn": (
        "lstm",
        "nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)",
        ["batch_first", "dropout"],
    ),
    "decoder": ("gru_cell", "nn.GRUCell(8, 16)", []),
    "tagger": (
        "rnn",
        "nn.RNN(3, 6, num_layers=3, bias=False)",
        ["nonlinearity", "batch_first", "dropout"],
    ),
    "attention": ("gru", "nn.GRU(4, 7, bidirectional=True)", ["batch_first", "dropout"]),
    "cell": ("lstm_cell", "nn.LSTMCell(5, 9, bias=False)", []),
}


def run(*args: str) -> tuple[int, str, str]:
    done = invoke(*args)
    return done.code, done.out, done.err


def layouts(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """The same model saved in the usual checkpoint shapes, with the prefix each gives."""
    state = Model().state_dict()
    files = {
        "bare.pt": (state, ""),
        "trainer.pth": (
            {"model": state, "optimizer": {"lr": 0.1, "state": {}}, "epoch": 3},
            "model.",
        ),
        "lightning.bin": ({"state_dict": state, "global_step": 10}, "state_dict."),
    }
    out = {}
    for name, (data, prefix) in files.items():
        path = tmp_path / name
        torch.save(data, path)
        out[name] = (path, prefix)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    out["weights.safetensors"] = (path, "")
    return out


def test_every_layout_and_format(tmp_path: Path) -> None:
    for name, (path, prefix) in layouts(tmp_path).items():
        code, out, err = run("infer", str(path), "--format", "json")
        assert code == 0, (name, err)
        doc = json.loads(out)
        modules = {m["prefix"]: m for m in doc["modules"]}
        assert set(modules) == {prefix + key for key in EXPECTED}, name
        for key, (cell, spec, unknown) in EXPECTED.items():
            module = modules[prefix + key]
            assert (module["cell"], module["spec"], module["unknown"]) == (cell, spec, unknown)
            built = getattr(nn, spec.split("(")[0].removeprefix("nn."))
            assert module["total_params"] == sum(
                p.numel() for n, p in Model().named_parameters() if n.startswith(key + ".")
            )
            assert built is not None
        lstm = modules[prefix + "encoder.rnn"]["config"]
        assert lstm == {
            "cell": "lstm",
            "input_size": 10,
            "hidden_size": 20,
            "num_layers": 2,
            "bias": True,
            "bidirectional": True,
            "proj_size": 5,
        }


@pytest.mark.parametrize("key", list(EXPECTED))
def test_spec_round_trips_through_shapes(tmp_path: Path, key: str) -> None:
    path, _ = layouts(tmp_path)["bare.pt"]
    doc = json.loads(run("infer", str(path), "--format", "json")[1])
    spec = next(m["spec"] for m in doc["modules"] if m["prefix"] == key)
    code, out, _ = run("shapes", spec, "--format", "json")
    assert code == 0
    shapes = {p["name"]: p["shape"] for p in json.loads(out)["parameters"]}
    module = dict(Model().named_parameters())
    assert shapes == {
        n[len(key) + 1 :]: list(p.shape) for n, p in module.items() if n.startswith(key + ".")
    }


def test_table_view(tmp_path: Path) -> None:
    path, _ = layouts(tmp_path)["trainer.pth"]
    code, out, _ = run("infer", str(path))
    assert code == 0
    assert "model.encoder.rnn" in out and "SPEC: nn.LSTM(10, 20, num_layers=2" in out
    assert "not recorded by the weights: nonlinearity, batch_first, dropout" in out
    assert "5 recurrent modules found." in out


def test_inconsistent_groups_are_reported_not_guessed(tmp_path: Path) -> None:
    state = nn.LSTM(4, 8, num_layers=3).state_dict()
    broken = {k: v for k, v in state.items() if "_l1" not in k}  # layer 1 is gone
    broken["odd.weight_ih_l0"] = torch.zeros(10, 4)  # 10 rows: no gate count fits hidden 8
    broken["odd.weight_hh_l0"] = torch.zeros(10, 8)
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    code, out, _ = run("infer", str(path), "--format", "json")
    assert code == 1
    problems = {m["prefix"]: m["problem"] for m in json.loads(out)["modules"]}
    assert problems[""] == "layer 1 is missing (found layers [0, 2])"
    assert "10 rows for hidden size 8: not 1, 3 or 4 gates" in problems["odd"]


def test_no_recurrent_module_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "linear.pt"
    torch.save(nn.Linear(3, 4).state_dict(), path)
    code, out, _ = run("infer", str(path))
    assert code == 1 and "No recurrent module among the 2 tensors" in out


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"weight_ih_l0": torch.zeros(4, 2), "payload": Exploit()}, path)
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # an inherited override must not matter
    result = CliRunner(env=env).invoke(main, ["infer", str(path)])
    assert result.exit_code == 2
    assert (
        result.stderr.startswith("Error: ") and "weights-only loading refused it" in result.stderr
    )
    assert result.stderr.count("\n") == 1
    assert not marker.exists()


def test_untrusted_key_names_cannot_drive_the_terminal(tmp_path: Path) -> None:
    state = nn.GRU(2, 3).state_dict()
    hostile = {f"\x1b[31m[bold]evil\x07.{k}": v for k, v in state.items()}
    path = tmp_path / "names.pt"
    torch.save(hostile, path)
    code, out, _ = run("infer", str(path))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31m[bold]evil\\x07" in out


def test_unreadable_and_oversized_files_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    code, _, err = run("infer", str(garbage))
    assert code == 2 and err.startswith("Error: ") and "holds text, not a torch checkpoint" in err
    code, _, err = run("infer", str(tmp_path / "missing.pt"))
    assert code == 2 and "no such file" in err
    bad_safetensors = tmp_path / "bad.safetensors"
    bad_safetensors.write_bytes(b"\x00" * 16)
    code, _, err = run("infer", str(bad_safetensors))
    assert code == 2 and "not a readable .safetensors file" in err
    path, _ = layouts(tmp_path)["bare.pt"]
    code, _, err = run("infer", str(path), "--max-memory", "1KiB")
    assert code == 2 and "over the memory limit" in err


def test_old_torch_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnninspect.files import checkpoint

    monkeypatch.setattr(torch, "__version__", "2.5.1+cu121")
    warning = checkpoint.torch_version_warning()
    assert warning is not None and "CVE-2025-32434" in warning and ".safetensors" in warning
    monkeypatch.setattr(torch, "__version__", "2.11.0")
    assert checkpoint.torch_version_warning() is None


# --- what real projects ship: whole modules, TorchScript, numpy, reparametrised weights ------


def infer(path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["infer", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_pickled_module_is_refused_in_one_line(tmp_path: Path) -> None:
    torch.save(nn.LSTM(4, 8), tmp_path / "whole.pt")
    code, out, err = infer(tmp_path / "whole.pt")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "a pickled module (torch.nn.modules.rnn.LSTM), not a checkpoint of tensors" in err
    assert "torch.save(model.state_dict(), 'weights.pt')" in err and err.rstrip().endswith("')")


def test_a_torchscript_archive_is_named_without_torchs_warning(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(nn.GRU(4, 8)), tmp_path / "vad.pt")
    code, out, err = infer(tmp_path / "vad.pt")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "a TorchScript archive (torch.jit.save)" in err and "Warning" not in err
    assert "torch.jit.load(PATH).state_dict()" in err


def test_npz_weights_are_read_like_safetensors(tmp_path: Path) -> None:
    import numpy as np

    state = nn.GRU(4, 8, num_layers=2).state_dict()
    np.savez(tmp_path / "w.npz", **{f"rnn.{k}": v.numpy() for k, v in state.items()})
    code, out, _ = infer(tmp_path / "w.npz", "--format", "json")
    assert code == 0
    (module,) = json.loads(out)["modules"]
    assert (module["prefix"], module["spec"]) == ("rnn", "nn.GRU(4, 8, num_layers=2)")
    result = CliRunner().invoke(main, ["verify", "--weights", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.stderr
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    code, _, err = infer(tmp_path / "obj.npz")
    assert code == 2 and "allow_pickle=False" in err


@pytest.mark.parametrize("style", ["parametrizations", "legacy"])
def test_weight_norm_is_rebuilt_with_torchs_formula(tmp_path: Path, style: str) -> None:
    import warnings

    module = nn.LSTM(4, 8, num_layers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if style == "legacy":
            torch.nn.utils.weight_norm(module, "weight_hh_l1")
        else:
            torch.nn.utils.parametrizations.weight_norm(module, "weight_hh_l1")
    effective = module.weight_hh_l1.detach().clone()
    torch.save({"model": module.state_dict()}, tmp_path / "wn.pt")
    from rnninspect.files.checkpoint import load_tensors
    from rnninspect.files.reparam import rebuild

    tensors, notes = rebuild(load_tensors(tmp_path / "wn.pt"))
    torch.testing.assert_close(tensors["model.weight_hh_l1"], effective, rtol=0, atol=1e-7)
    assert notes and "weight_norm" in notes[0]
    code, out, _ = infer(tmp_path / "wn.pt")
    assert code == 0 and "model.weight_hh_l1 rebuilt from torch's" in " ".join(out.split())


def test_pruned_weights_are_rebuilt_and_weight_drop_is_named(tmp_path: Path) -> None:
    pruned = nn.GRU(4, 8)
    from torch.nn.utils import prune

    prune.l1_unstructured(pruned, "weight_ih_l0", 0.3)
    effective = pruned.weight_ih_l0.detach().clone()
    torch.save(pruned.state_dict(), tmp_path / "pruned.pt")
    from rnninspect.files.checkpoint import load_tensors
    from rnninspect.files.reparam import rebuild

    tensors, _ = rebuild(load_tensors(tmp_path / "pruned.pt"))
    assert torch.equal(tensors["weight_ih_l0"], effective)

    state = nn.LSTM(4, 8).state_dict()
    state["weight_hh_l0_raw"] = state.pop("weight_hh_l0")
    torch.save({f"rnns.0.module.{k}": v for k, v in state.items()}, tmp_path / "awd.pt")
    code, out, _ = infer(tmp_path / "awd.pt", "--format", "json")
    assert code == 1
    (group,) = json.loads(out)["modules"]
    assert group["problem"].startswith(
        "weight_hh_l0 is missing; found rnns.0.module.weight_hh_l0_raw"
    )
    assert "weight-drop wrapper" in group["problem"]


def test_infer_reads_shapes_only_from_every_format(tmp_path: Path) -> None:
    """load_shapes gives what load_tensors gives, on the meta device: no tensor data is read."""
    import numpy as np
    from safetensors.torch import save_file

    from rnninspect.files.checkpoint import load_shapes, load_tensors

    state = {f"enc.{k}": v for k, v in nn.GRU(3, 5, num_layers=2).state_dict().items()}
    torch.save({"model": state}, tmp_path / "c.pt")
    save_file(state, str(tmp_path / "c.safetensors"))
    np.savez(tmp_path / "c.npz", **{k: v.numpy() for k, v in state.items()})
    for name in ("c.pt", "c.safetensors", "c.npz"):
        shapes = load_shapes(tmp_path / name)
        full = load_tensors(tmp_path / name)
        assert {k: (v.shape, v.dtype) for k, v in shapes.items()} == {
            k: (v.shape, v.dtype) for k, v in full.items()
        }
        assert all(v.device.type == "meta" for v in shapes.values()), name
