"""The CLI through its front door: exit codes, stdout and stderr, each format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rnninspect import __version__
from rnninspect.cli import main


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_shapes_default_configuration(runner: CliRunner) -> None:
    code, out, err = invoke(runner, "shapes")
    assert code == 0, err
    assert "nn.RNN(10, 20) · batch 3 · seq_len 5 · seed 0" in out
    assert "input    [5, 3, 10]   L=5 · N=3 · H_in=10" in out
    assert "h_n      [1, 3, 20]   D*num_layers=1 · N=3 · H_out=20" in out
    assert "total" in out and "640" in out  # 200 + 400 + 20 + 20
    assert err == ""


LSTM_JSON = (
    "shapes",
    "nn.LSTM(10, 20, num_layers=2, bidirectional=True)",
    "--batch",
    "7",
    "--format",
    "json",
)


def test_shapes_spec_and_options_agree(runner: CliRunner) -> None:
    by_spec = invoke(runner, *LSTM_JSON)
    by_options = invoke(
        runner,
        "shapes",
        "--cell",
        "lstm",
        "--num-layers",
        "2",
        "--bidirectional",
        "--batch",
        "7",
        "--format",
        "json",
    )
    assert by_spec[0] == by_options[0] == 0
    spec_doc, options_doc = json.loads(by_spec[1]), json.loads(by_options[1])
    for doc in (spec_doc, options_doc):
        del doc["memory"]["limit_bytes"]  # what is free on the machine changes from run to run
    assert spec_doc == options_doc


def test_shapes_json_is_one_document_with_the_contract_keys(runner: CliRunner) -> None:
    code, out, _err = invoke(runner, *LSTM_JSON)
    assert code == 0
    doc = json.loads(out)
    assert doc["config"] == {
        "cell": "lstm",
        "input_size": 10,
        "hidden_size": 20,
        "num_layers": 2,
        "bias": True,
        "batch_first": False,
        "bidirectional": True,
        "nonlinearity": "tanh",
        "dropout": 0.0,
        "proj_size": 0,
        "batch": 7,
        "seq_len": 5,
        "unbatched": False,
        "seed": 0,
        "lengths": None,
    }
    assert set(doc["versions"]) == {"rnninspect", "torch", "python"}
    assert doc["versions"]["rnninspect"] == __version__
    tensors = {t["name"]: t for t in doc["tensors"]}
    assert list(tensors) == ["input", "h0", "c0", "output", "h_n", "c_n"]
    assert tensors["h_n"]["shape"] == [4, 7, 20]
    assert [d["meaning"] for d in tensors["h_n"]["dims"]] == [
        "num_layers*num_directions",
        "batch",
        "hidden_size",
    ]
    assert [d["size"] for d in tensors["output"]["dims"]] == [5, 7, 40]
    assert doc["parameters"][0] == {
        "name": "weight_ih_l0",
        "shape": [80, 10],
        "numel": 800,
        "layer": 0,
        "direction": "forward",
        "rows": "i,f,g,o × 20",
        "cols": "input 10",
    }
    assert doc["total_params"] == sum(p["numel"] for p in doc["parameters"]) == 15040
    assert doc["ok"] is True


def test_shapes_markdown(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "shapes", "nn.GRUCell(4, 8)", "--format", "markdown")
    assert code == 0
    assert "| `h1` | [3, 8] | N=3 · H_out=8 |" in out
    assert "| cell | `weight_ih` | [24, 4] | 96 | r,z,n × 8 | input 4 |" in out
    assert "| **total** |  |  | **336** |  |  |" in out


def test_table_fits_80_columns_without_colour(runner: CliRunner) -> None:
    code, out, _ = invoke(
        runner,
        "shapes",
        "nn.LSTM(256, 512, num_layers=3, bidirectional=True, proj_size=128)",
        "--batch",
        "64",
    )
    assert code == 0
    assert "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_unbatched_and_cells(runner: CliRunner) -> None:
    code, out, _ = invoke(
        runner, "shapes", "--cell", "gru", "--unbatched", "--bidirectional", "--format", "json"
    )
    assert code == 0
    shapes = {t["name"]: t["shape"] for t in json.loads(out)["tensors"]}
    assert shapes == {"input": [5, 10], "h0": [2, 20], "output": [5, 40], "h_n": [2, 20]}
    code, out, _ = invoke(runner, "shapes", "nn.LSTMCell(4, 8)", "--unbatched", "--format", "json")
    shapes = {t["name"]: t["shape"] for t in json.loads(out)["tensors"]}
    assert shapes == {"input": [4], "h0": [8], "c0": [8], "h1": [8], "c1": [8]}


def test_torch_warning_goes_to_stderr(runner: CliRunner) -> None:
    code, out, err = invoke(runner, "shapes", "nn.GRU(4, 8, dropout=0.5)", "--format", "json")
    assert code == 0
    json.loads(out)
    assert err.startswith(
        "Warning: torch: dropout option adds dropout after all but last recurrent layer"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["shapes", "--hidden-size", "0"],
            "hidden_size (--hidden-size) must be an integer >= 1, got 0",
        ),
        (["shapes", "--hidden-size", "abc"], "'abc' is not a valid integer"),
        (["shapes", "--num-layers", "-2"], "num_layers (--num-layers) must be an integer >= 1"),
        (["shapes", "--batch", "0"], "batch (--batch) must be an integer >= 1"),
        (["shapes", "--seq-len", "0"], "seq_len (--seq-len) must be an integer >= 1"),
        (["shapes", "--dropout", "2"], "dropout (--dropout) must be a probability in [0, 1]"),
        (["shapes", "--cell", "transformer"], "'transformer' is not one of"),
        (["shapes", "--format", "xml"], "'xml' is not one of 'table', 'json', 'markdown'"),
        (["shapes", "nn.LSTM(10, 20"], "SPEC is not a valid Python expression"),
        (
            ["shapes", "nn.LSTM(10, 20, bidirectional='yes')"],
            "bidirectional must be True or False, got 'yes'",
        ),
        (
            ["shapes", "nn.LSTM(10, 20, bidirectional='no')"],
            "torch would treat any non-empty string as True",
        ),
        (
            ["shapes", "nn.LSTM(True, 20)"],
            "input_size (--input-size) must be an integer >= 1, got True",
        ),
        (["shapes", "nn.LSTM(10, 20, num_layers=True)"], "num_layers"),
        (["shapes", "nn.RNNCell(4, 8, nonlinearity='sigmoid')"], "'tanh' or 'relu', got 'sigmoid'"),
        (
            ["shapes", "nn.GRUCell(4, 0)"],
            "hidden_size (--hidden-size) must be an integer >= 1, got 0",
        ),
        (
            ["shapes", "nn.GRU(4, 8, proj_size=2)"],
            "unexpected keyword argument 'proj_size'; only LSTM takes it",
        ),
        (["shapes", "nn.LSTM(4, 8)", "--nonlinearity", "relu"], "RNN and RNNCell only"),
        (["shapes", "nn.LSTM(4, 8, frobnicate=3)"], "unexpected keyword argument 'frobnicate'"),
        (["shapes", "nn.LSTM(4, 8, num_layers=__import__('os').getpid())"], "must be a literal"),
        (["shapes", "nn.Linear(4, 8)"], "must call one of"),
        (["verify", "--hidden-size", "200000", "--num-layers", "50"], "over the memory limit"),
        (["verify", "--max-memory", "1KiB"], "needs an estimated"),
        (["explain", "--hidden-size", "200000", "--num-layers", "50"], "over the memory limit"),
        (["shapes", "--max-memory", "lots"], "--max-memory must be a positive size"),
        (["shapes", "--no-such-option"], "No such option '--no-such-option'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    runner: CliRunner, args: list[str], message: str
) -> None:
    code, out, err = invoke(runner, *args)
    assert code == 2, (out, err)
    assert out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_help_and_version(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--help")
    assert code == 0 and "shapes" in out
    code, out, _ = invoke(runner, "--version")
    assert code == 0 and __version__ in out


def test_help_does_not_import_torch() -> None:
    probe = (
        "import sys; from rnninspect.cli import main; "
        "main(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith("False")
    probe = probe.replace("'--help'", "'shapes', '--help'")
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith("False")


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rnninspect", "shapes", "--cell", "gru", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["cell"] == "gru"


def test_shapes_does_not_import_what_only_verify_and_bench_need() -> None:
    probe = (
        "import sys; from rnninspect.cli import main; "
        "main(['shapes', '--format', 'json'], standalone_mode=False); "
        "print(sorted(m for m in ('torch.utils.benchmark', "
        "'rnninspect.commands.verify.verification') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]")


def test_bare_command_prints_the_help(runner: CliRunner) -> None:
    code, out, err = invoke(runner)
    assert code == 0 and err == ""
    assert out.startswith("Usage: ") and "shapes" in out and "diagnose" in out


def test_internal_error_exits_4_with_one_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnninspect import api

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(api, "inspect_shapes", broken)
    monkeypatch.delenv("RNNINSPECT_DEBUG", raising=False)
    code, out, err = invoke(runner, "shapes")
    assert code == 4
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: internal error")
    assert "ZeroDivisionError: planted" in err


def test_shapes_of_a_module_too_large_to_run_come_from_the_meta_device(runner: CliRunner) -> None:
    args = ["shapes", "nn.LSTM(1024, 4096, num_layers=8)", "--batch", "256", "--seq-len", "20"]
    code, out, err = invoke(runner, *args)
    assert code == 0, err
    text = " ".join(out.split())
    assert "output [20, 256, 4096]" in text and "1,023,672,320" in text
    assert "Over the limit" in text and "meta device" in text
    code, out, _ = invoke(runner, *args, "--format", "json")
    assert json.loads(out)["computed_on"] == "meta"


def test_shapes_is_quiet_about_onednn_projections(runner: CliRunner) -> None:
    code, _, err = invoke(runner, "shapes", "nn.LSTM(10, 20, proj_size=5)")
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("matrix", "file"),
        ("matrix", "junit_xml"),
        ("infer", "file"),
        ("verify", "impl"),
        ("verify", "weights"),
        ("bench", "weights"),
    ],
)
def test_file_arguments_complete_as_paths(command: str, name: str) -> None:
    import click

    ctx = click.Context(main)
    sub = main.get_command(ctx, command)
    assert sub is not None
    (param,) = [p for p in sub.params if p.name == name]
    items = param.shell_complete(click.Context(sub), "")
    assert items and items[0].type == "file"


@pytest.mark.parametrize("spec", ["lstm = nn.LSTM(10, 20)", "self.rnn: nn.LSTM = nn.LSTM(10, 20)"])
def test_a_spec_copied_with_its_assignment_is_read(runner: CliRunner, spec: str) -> None:
    code, out, err = invoke(runner, "shapes", spec)
    assert code == 0, err
    assert out.startswith("nn.LSTM(10, 20) · batch 3")


def test_a_statement_spec_says_what_to_write(runner: CliRunner) -> None:
    code, _, err = invoke(runner, "shapes", "for x in y: pass")
    assert code == 2
    assert "write the constructor call alone, such as 'nn.LSTM(10, 20)'" in err


NARROW = [
    ["shapes", "nn.LSTM(10, 20, num_layers=2, bidirectional=True)"],
    ["explain", "nn.LSTM(10, 20, num_layers=2, bidirectional=True)", "--seq-len", "12"],
    ["bench", "--cell", "gru", "--sweep", "batch=1,2", "--min-time", "0.01"],
    ["verify", "nn.GRU(4, 8)", "--impl", "tests/impls/manual.py:GRUResetBeforeProduct"],
    ["diagnose", "nn.GRU(10, 20)", "--input-shape", "7,5,10", "--h0-shape", "1,7,20"],
]


@pytest.mark.parametrize("args", NARROW, ids=lambda args: args[0])
@pytest.mark.parametrize("width", [60, 100])
def test_narrow_terminals_wrap_or_stack_never_cut(args: list[str], width: int) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    args = [str(root / a) if a.startswith("tests/") else a for a in args]
    result = CliRunner(env={"COLUMNS": str(width)}).invoke(main, args)
    assert result.exit_code in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert "…" not in result.stdout
    assert all(line == line.rstrip() for line in lines), "a line ends in spaces"
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    text = " ".join(result.stdout.split())
    if args[0] == "shapes":
        assert "i,f,g,o × 20" in text and "layer 0 output 40" in text
    if args[0] == "bench" and width == 60:
        assert "batch=1" in text and "batch=2" in text and "ratio" in text
    if args[0] == "explain":
        assert "layer 1 →" in text and "[*]" in text


def test_a_small_module_runs_on_the_cpu_and_says_so(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "shapes", "--format", "json")
    assert code == 0 and json.loads(out)["computed_on"] == "cpu"
    code, out, _ = invoke(runner, "shapes")
    assert "Shapes from torch's own forward pass on the CPU." in out
