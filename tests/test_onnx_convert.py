"""``rnninspect convert FILE --to onnx``: the file written runs at every length and batch, and
nothing is written that did not."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.clirun import Invocation

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

#: Every module kind, bias, direction, depth and layout: 72 configurations.
GRID = list(
    itertools.product(
        ["RNN", "LSTM", "GRU"], [True, False], [False, True], [1, 2, 3], [False, True]
    )
)


def _own_check(module: nn.Module, path: Path, batch_first: bool) -> float:
    """The written file in ONNX Runtime against torch's module itself, at 4 lengths and 3
    batches, with nothing of rnninspect: the largest difference."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [x.name for x in session.get_inputs()]
    lstm = isinstance(module, nn.LSTM)
    layers = module.num_layers * (2 if module.bidirectional else 1)  # type: ignore[operator]
    size = module.hidden_size
    largest = 0.0
    for steps, batch in itertools.product([1, 4, 9, 40], [1, 2, 5]):
        x = torch.randn(batch, steps, 3) if batch_first else torch.randn(steps, batch, 3)
        h0 = torch.randn(layers, batch, size)  # type: ignore[arg-type]
        c0 = torch.randn(layers, batch, size)  # type: ignore[arg-type]
        with torch.no_grad():
            if lstm:
                output, (h_n, c_n) = module(x, (h0, c0))
                wanted = [output, h_n, c_n]
            else:
                output, h_n = module(x, h0)
                wanted = [output, h_n]
        feeds = {"input": x.numpy(), "h0": h0.numpy(), "c0": c0.numpy()}
        found = session.run(None, {name: feeds[name] for name in names})
        for got, want in zip(found, wanted, strict=True):
            assert got.shape == tuple(want.shape)
            largest = max(largest, float(np.abs(got - want.numpy()).max()))
    return largest


@pytest.mark.parametrize(("kind", "bias", "bidirectional", "layers", "batch_first"), GRID)
def test_the_file_runs_at_every_length_and_batch(
    kind: str,
    bias: bool,
    bidirectional: bool,
    layers: int,
    batch_first: bool,
    cli: Callable[..., Invocation],
    tmp_path: Path,
) -> None:
    torch.manual_seed(layers)
    module = getattr(nn, kind)(
        3, 5, num_layers=layers, bias=bias, bidirectional=bidirectional, batch_first=batch_first
    ).eval()
    torch.save(
        {"model": {f"rnn.{k}": v for k, v in module.state_dict().items()}}, tmp_path / "c.pt"
    )
    out = tmp_path / "model.onnx"
    flags = ["--batch-first"] if batch_first else []
    result = cli(
        "convert", tmp_path / "c.pt", "--to", "onnx", "-o", out, *flags, "--format", "json"
    )
    assert result.code == 0, result.out
    assert result.document["written"] and result.document["verdict"] == "pass"
    assert _own_check(module, out, batch_first) < 1e-5


def test_a_cell_is_one_step(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    cell = nn.LSTMCell(3, 5)
    torch.save(cell.state_dict(), tmp_path / "cell.pt")
    result = cli("convert", tmp_path / "cell.pt", "--to", "onnx", "-o", tmp_path / "cell.onnx")
    assert result.code == 0, result.out
    session = ort.InferenceSession(str(tmp_path / "cell.onnx"), providers=["CPUExecutionProvider"])
    x, h, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    h1, c1 = session.run(None, {"input": x.numpy(), "h0": h.numpy(), "c0": c.numpy()})
    with torch.no_grad():
        want_h, want_c = cell(x, (h, c))
    assert np.abs(h1 - want_h.numpy()).max() < 1e-5 and np.abs(c1 - want_c.numpy()).max() < 1e-5


def test_a_file_that_does_not_match_is_not_written(
    cli: Callable[..., Invocation], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted fault in the graph (torch's gate blocks left in torch's order) fails the check:
    OUT keeps what it held, and no staged file is left beside it."""
    from rnninspect.reference import onnx_torch

    torch.save(nn.GRU(3, 5).state_dict(), tmp_path / "g.pt")
    out = tmp_path / "model.onnx"
    out.write_bytes(b"what was there")
    monkeypatch.setitem(onnx_torch.TORCH_BLOCKS, "gru", (0, 1, 2))
    result = cli("convert", tmp_path / "g.pt", "--to", "onnx", "-o", out, "--format", "json")
    assert result.code == 1 and not result.document["written"]
    assert result.document["runtimes"][0]["verdict"] == "fail"
    assert out.read_bytes() == b"what was there"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt", "model.onnx"]
    table = cli("convert", tmp_path / "g.pt", "--to", "onnx", "-o", out)
    assert "Not written" in table.out and "where the equations give" in table.out


@pytest.mark.parametrize(
    ("layers", "bidirectional", "batch_first"), [(1, False, False), (2, True, True)]
)
def test_a_projected_lstm_is_written_as_a_scan_of_its_steps(
    layers: int,
    bidirectional: bool,
    batch_first: bool,
    cli: Callable[..., Invocation],
    tmp_path: Path,
) -> None:
    """No ONNX operator projects; the steps written out in a Scan run at every length."""
    module = nn.LSTM(
        3, 5, proj_size=2, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first
    ).eval()
    torch.save(module.state_dict(), tmp_path / "p.pt")
    out = tmp_path / "p.onnx"
    flags = ["--batch-first"] if batch_first else []
    result = cli(
        "convert", tmp_path / "p.pt", "--to", "onnx", "-o", out, *flags, "--format", "json"
    )
    assert result.code == 0, result.out
    assert all("Scan" in node for node in result.document["nodes"])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    d = 2 if bidirectional else 1
    for steps, batch in [(1, 1), (6, 3), (40, 2)]:
        x = torch.randn(batch, steps, 3) if batch_first else torch.randn(steps, batch, 3)
        h0, c0 = torch.randn(layers * d, batch, 2), torch.randn(layers * d, batch, 5)
        with torch.no_grad():
            output, (h_n, c_n) = module(x, (h0, c0))
        found = session.run(None, {"input": x.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})
        for got, want in zip(found, (output, h_n, c_n), strict=True):
            assert np.abs(got - want.numpy()).max() < 1e-5


@pytest.mark.parametrize(
    ("name", "module", "bidirectional", "runs"),
    [
        ("openvino", "openvino", True, True),
        ("tract", "tract", True, True),
        ("onnx-reference", "onnx.reference", False, True),
        # ONNX's evaluator: "Scan is not implemented for other output input_direction than 0"
        ("onnx-reference", "onnx.reference", True, False),
    ],
)
def test_the_projection_decision_as_measured_in_each_runtime(
    name: str,
    module: str,
    bidirectional: bool,
    runs: bool,
    cli: Callable[..., Invocation],
    tmp_path: Path,
) -> None:
    """The measurement behind writing proj_size as a Scan (docs/runtimes.md): ONNX Runtime,
    OpenVINO and tract run it right; ONNX's evaluator only scans forwards."""
    pytest.importorskip(module)
    torch.save(
        nn.LSTM(3, 5, proj_size=2, bidirectional=bidirectional).state_dict(), tmp_path / "p.pt"
    )
    out = tmp_path / "p.onnx"
    args = ["--to", "onnx", "-o", out, "--runtime", name, "--format", "json"]
    result = cli("convert", tmp_path / "p.pt", *args)
    verdicts = {run["runtime"]: run["verdict"] for run in result.document["runtimes"]}
    assert verdicts["onnxruntime"] == "pass"
    assert verdicts[name] == ("pass" if runs else "unsupported")
    assert result.code == (0 if runs else 1) and out.exists() == runs


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--to", "onnx", "-o", "m.keras"], "writes a .onnx file"),
        (["--to", "onnx", "-o", "m.onnx", "--opset", "9"], "opsets 13 to 22"),
        (["--to", "onnx", "-o", "m.onnx", "--runtime", "eager"], "the runtimes are"),
        (["--to", "onnx", "-o", "m.onnx", "--assume-defaults"], "no meaning for --to onnx"),
        (["--to", "keras", "-o", "m.keras", "--opset", "17"], "for --to onnx only"),
        (["--to", "onnx", "-o", "nowhere/m.onnx"], "does not exist"),
    ],
)
def test_bad_options_are_refused(
    cli: Callable[..., Invocation],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    said: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save(nn.GRU(3, 5).state_dict(), "g.pt")
    result = cli("convert", "g.pt", *args)
    assert result.code == 2 and said in result.err, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt"]


@pytest.mark.parametrize("name", ["tract", "openvino", "onnx-reference"])
def test_other_runtimes_run_the_staged_file(
    name: str, cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    pytest.importorskip({"onnx-reference": "onnx.reference"}.get(name, name))
    torch.save(nn.LSTM(3, 5, num_layers=2).state_dict(), tmp_path / "l.pt")
    out = tmp_path / "l.onnx"
    result = cli("convert", tmp_path / "l.pt", "--to", "onnx", "-o", out, "--runtime", name)
    assert result.code == 0, result.out
    assert "ONNX Runtime" in result.out and "Written" in result.out


def test_every_json_key_is_in_json_md(cli: Callable[..., Invocation], tmp_path: Path) -> None:
    from tests.test_docs import _all_keys_described

    torch.save(nn.GRU(3, 5).state_dict(), tmp_path / "g.pt")
    args = ["--to", "onnx", "-o", tmp_path / "g.onnx", "--format", "json"]
    _all_keys_described(cli("convert", tmp_path / "g.pt", *args).document)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_a_packed_batch_goes_through_sequence_lens(
    kind: str, cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    """--packed: the file's lengths input gives what torch's module gives a packed batch, the
    output padded back with zeros and h_n the last valid step of each sequence, checked here
    with torch's own pack_padded_sequence on unsorted lengths."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    module = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True).eval()
    torch.save(module.state_dict(), tmp_path / "m.pt")
    out = tmp_path / "m.onnx"
    result = cli("convert", tmp_path / "m.pt", "--to", "onnx", "-o", out, "--packed")
    assert result.code == 0, result.out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    lengths = [4, 9, 1, 6]
    x, h0 = torch.randn(9, 4, 3), torch.randn(4, 4, 5)
    c0 = torch.randn(4, 4, 5)
    packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    with torch.no_grad():
        if kind == "LSTM":
            output, (h_n, c_n) = module(packed, (h0, c0))
            wanted = [None, h_n, c_n]
        else:
            output, h_n = module(packed, h0)
            wanted = [None, h_n]
    wanted[0] = pad_packed_sequence(output, total_length=9)[0]
    feeds = {"input": x.numpy(), "h0": h0.numpy(), "c0": c0.numpy()}
    feeds["lengths"] = np.array(lengths, dtype=np.int32)
    names = [i.name for i in session.get_inputs()]
    found = session.run(None, {name: feeds[name] for name in names})
    for got, want in zip(found, wanted, strict=True):
        assert want is not None and np.abs(got - want.numpy()).max() < 1e-5


def test_a_packed_projection_is_refused_with_the_reason(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    torch.save(nn.LSTM(3, 5, proj_size=2).state_dict(), tmp_path / "p.pt")
    args = ["--to", "onnx", "-o", tmp_path / "p.onnx", "--packed"]
    result = cli("convert", tmp_path / "p.pt", *args)
    assert result.code == 2 and "has no sequence_lens" in result.err
    assert not (tmp_path / "p.onnx").exists()


def test_a_spec_with_weights_says_what_the_checkpoint_does_not(
    cli: Callable[..., Invocation], tmp_path: Path
) -> None:
    torch.save(nn.GRU(3, 5, batch_first=True).state_dict(), tmp_path / "g.pt")
    out = tmp_path / "g.onnx"
    spec = "nn.GRU(3, 5, batch_first=True)"
    result = cli("convert", spec, "--weights", tmp_path / "g.pt", "--to", "onnx", "-o", out)
    assert result.code == 0 and "input [N, L, 3]" in result.out
    wrong = cli(
        "convert", "nn.GRU(3, 6)", "--weights", tmp_path / "g.pt", "--to", "onnx", "-o", out
    )
    assert wrong.code == 2 and "disagrees with the weights" in wrong.err
