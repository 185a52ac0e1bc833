"""diagnose: each hint on the mistake it names, shapes that fit, torch's verdict, crashes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rnninspect import diagnose as diagnose_module
from rnninspect.cli import main
from rnninspect.diagnose import diagnose, parse_shape, torch_verdict
from rnninspect.spec import SpecError, make_spec


def run(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, ["diagnose", *args, "--format", "json"])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        [
            "nn.LSTM(10, 20, num_layers=2)",
            "--input-shape",
            "5,7,10",
            "--h0-shape",
            "2,7,20",
            "--c0-shape",
            "2,7,20",
        ],
        ["nn.GRU(10, 20, batch_first=True)", "--input-shape", "7,5,10", "--h0-shape", "1,7,20"],
        ["nn.RNN(10, 20)", "--input-shape", "5,10", "--h0-shape", "1,20"],
        ["nn.GRUCell(10, 20)", "--input-shape", "7,10", "--h0-shape", "7,20"],
        ["nn.LSTM(10, 20, proj_size=5)", "--input-shape", "5,7,10"],
    ],
)
def test_shapes_that_fit(args: list[str]) -> None:
    code, doc = run(*args)
    assert code == 0
    assert doc["fits"] is True and doc["problems"] == [] and doc["torch_error"] is None
    assert doc["torch_ran"] is True


def problem(args: list[str]) -> dict[str, object]:
    code, doc = run(*args)
    assert code == 1 and doc["fits"] is False
    problems = doc["problems"]
    assert isinstance(problems, list) and problems
    assert doc["torch_error"], "torch should refuse these shapes too"
    return problems[0]


def test_batch_and_sequence_swapped() -> None:
    p = problem(["nn.GRU(10, 20)", "--input-shape", "7,5,10", "--h0-shape", "1,7,20"])
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("h0", 1, "7", "5")
    assert "batch and sequence look swapped" in str(p["hint"]) and "batch_first=True" in str(
        p["hint"]
    )


def test_h0_without_the_directions_of_a_bidirectional_module() -> None:
    p = problem(
        [
            "nn.LSTM(10, 20, num_layers=2, bidirectional=True)",
            "--input-shape",
            "5,7,10",
            "--h0-shape",
            "2,7,20",
            "--c0-shape",
            "4,7,20",
        ]
    )
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("h0", 0, "2", "4")
    assert p["meaning"] == "num_layers*num_directions"
    assert "without the directions of a bidirectional module" in str(p["hint"])


def test_h0_built_batch_first() -> None:
    p = problem(
        [
            "nn.GRU(10, 20, num_layers=2, batch_first=True)",
            "--input-shape",
            "7,5,10",
            "--h0-shape",
            "7,2,20",
        ]
    )
    assert (p["tensor"], p["dim"]) == ("h0", 0)
    assert "looks batch-first" in str(p["hint"]) and "transpose(0, 1)" in str(p["hint"])


def test_wrong_feature_size() -> None:
    p = problem(["nn.RNN(10, 20)", "--input-shape", "5,7,12"])
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("input", 2, "12", "10")
    assert p["meaning"] == "input_size (H_in)"


def test_lstm_given_a_single_state() -> None:
    p = problem(["nn.LSTM(10, 20)", "--input-shape", "5,7,10", "--h0-shape", "1,7,20"])
    assert (p["tensor"], p["got"]) == ("c0", "missing")
    assert "tuple (h0, c0)" in str(p["hint"])


def test_2d_input_meant_as_unbatched() -> None:
    p = problem(["nn.RNN(10, 20)", "--input-shape", "5,10", "--h0-shape", "1,7,20"])
    assert p["tensor"] == "h0" and "read as one unbatched sequence" in str(p["hint"])


def test_projected_h0_and_cell_states() -> None:
    p = problem(
        [
            "nn.LSTM(10, 20, proj_size=5)",
            "--input-shape",
            "5,7,10",
            "--h0-shape",
            "1,7,20",
            "--c0-shape",
            "1,7,20",
        ]
    )
    assert (p["tensor"], p["dim"], p["expected"], p["meaning"]) == ("h0", 2, "5", "proj_size")
    p = problem(
        [
            "nn.LSTMCell(10, 20)",
            "--input-shape",
            "7,10",
            "--h0-shape",
            "1,7,20",
            "--c0-shape",
            "1,7,20",
        ]
    )
    assert "no layers dimension" in str(p["hint"]) and "squeeze(0)" in str(p["hint"])
    p = problem(["nn.GRUCell(10, 20)", "--input-shape", "5,7,10"])
    assert "takes one time step" in str(p["hint"])


def test_table_view_reads_well() -> None:
    result = CliRunner().invoke(
        main, ["diagnose", "nn.GRU(10, 20)", "--input-shape", "7,5,10", "--h0-shape", "1,7,20"]
    )
    assert result.exit_code == 1
    assert "h0, dim 1: got 7, expected 5" in result.stdout
    assert "torch says: RuntimeError: Expected hidden size (1, 5, 20), got [1, 7, 20]" in " ".join(
        result.stdout.split()
    )


@pytest.mark.parametrize("text", ["5,x", "", "0,3", "-1,3", "5;7"])
def test_unparsable_shapes_exit_2(text: str) -> None:
    result = CliRunner().invoke(main, ["diagnose", "--input-shape", text])
    assert result.exit_code == 2 and result.stderr.startswith("Error: --input-shape")


def test_parse_shape_forms() -> None:
    assert parse_shape("(5, 7, 10)", "--x") == parse_shape("[5,7,10]", "--x") == (5, 7, 10)
    with pytest.raises(SpecError):
        parse_shape("five", "--x")


def test_a_crash_of_torch_is_reported_not_suffered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        diagnose_module, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    )
    ran, error = torch_verdict(make_spec(cell="lstm_cell"), (3, 10), (1, 3, 20), (1, 3, 20))
    assert not ran and error == "torch's process died with SIGSEGV: these shapes crash torch"


def test_model_and_torch_agree_on_what_fits() -> None:
    spec = make_spec(cell="lstm", num_layers=2, bidirectional=True)
    for h0 in [(4, 7, 20), (2, 7, 20), (4, 5, 20), (4, 7, 10)]:
        ours = diagnose(spec, (5, 7, 10), h0, (4, 7, 20))
        ran, error = torch_verdict(spec, (5, 7, 10), h0, (4, 7, 20))
        assert ran and (not ours) == (error is None), (h0, ours, error)
