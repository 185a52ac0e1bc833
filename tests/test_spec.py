"""SPEC parsing and configuration validation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rnninspect.cli import main
from rnninspect.model.spec import CellKind, RNNSpec, SpecError, make_spec, parse_spec, resolve


@pytest.mark.parametrize(
    ("text", "cell", "values"),
    [
        (
            "nn.LSTM(10, 20, num_layers=2)",
            CellKind.LSTM,
            {"input_size": 10, "hidden_size": 20, "num_layers": 2},
        ),
        (
            "torch.nn.GRU(input_size=8, hidden_size=16, batch_first=True)",
            CellKind.GRU,
            {"input_size": 8, "hidden_size": 16, "batch_first": True},
        ),
        (
            "RNN(4, 8, 2, 'relu')",
            CellKind.RNN,
            {"input_size": 4, "hidden_size": 8, "num_layers": 2, "nonlinearity": "relu"},
        ),
        (
            "nn.RNN(4, 8, 1, 'tanh', False, True, 0.5, True)",
            CellKind.RNN,
            {
                "input_size": 4,
                "hidden_size": 8,
                "num_layers": 1,
                "nonlinearity": "tanh",
                "bias": False,
                "batch_first": True,
                "dropout": 0.5,
                "bidirectional": True,
            },
        ),
        (
            "nn.LSTM(4, 8, 2, False, True, 0.1, True, 3)",
            CellKind.LSTM,
            {
                "input_size": 4,
                "hidden_size": 8,
                "num_layers": 2,
                "bias": False,
                "batch_first": True,
                "dropout": 0.1,
                "bidirectional": True,
                "proj_size": 3,
            },
        ),
        (
            "nn.GRU(4, 8, 3, True, False, 0.0, True)",
            CellKind.GRU,
            {
                "input_size": 4,
                "hidden_size": 8,
                "num_layers": 3,
                "bias": True,
                "batch_first": False,
                "dropout": 0.0,
                "bidirectional": True,
            },
        ),
        (
            "nn.RNNCell(4, 8, False, 'relu')",
            CellKind.RNN_CELL,
            {"input_size": 4, "hidden_size": 8, "bias": False, "nonlinearity": "relu"},
        ),
        ("nn.LSTMCell(4, 8)", CellKind.LSTM_CELL, {"input_size": 4, "hidden_size": 8}),
        (
            "GRUCell(input_size=4, hidden_size=8, bias=False)",
            CellKind.GRU_CELL,
            {"input_size": 4, "hidden_size": 8, "bias": False},
        ),
        (
            "  nn.LSTM(10, 20, dropout=-0.5)  ",
            CellKind.LSTM,
            {"input_size": 10, "hidden_size": 20, "dropout": -0.5},
        ),
    ],
)
def test_parse_spec_positional_and_keyword(
    text: str, cell: CellKind, values: dict[str, object]
) -> None:
    assert parse_spec(text) == (cell, values)


@pytest.mark.parametrize("kind", list(CellKind))
def test_spec_string_round_trips(kind: CellKind) -> None:
    extra = {"proj_size": 3} if kind is CellKind.LSTM else {}
    if not kind.is_cell:
        extra |= {"num_layers": 2, "bidirectional": True, "batch_first": True}
    spec = make_spec(cell=kind, input_size=4, hidden_size=8, bias=False, **extra)
    cell, values = parse_spec(spec.to_spec_string())
    assert make_spec(cell=cell, **values) == spec


def test_options_override_spec() -> None:
    spec = resolve("nn.LSTM(10, 20, num_layers=2)", {"hidden_size": 32, "num_layers": None})
    assert (spec.cell, spec.input_size, spec.hidden_size, spec.num_layers) == (
        CellKind.LSTM,
        10,
        32,
        2,
    )
    assert resolve("nn.GRU(3, 4)", {"cell": "lstm"}).cell is CellKind.LSTM


def test_defaults_are_the_contracts() -> None:
    assert resolve(None, {}) == RNNSpec(
        cell=CellKind.RNN, input_size=10, hidden_size=20, num_layers=1, batch=3, seq_len=5, seed=0
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nn.LSTM(10, 20", "not a valid Python expression"),
        ("nn.LSTM", "one constructor call"),
        ("nn.Linear(10, 20)", "must call one of"),
        ("foo.nn.LSTM(10, 20)", "must call one of"),
        ("nn.LSTM(10, 20, foo=1)", "unexpected keyword argument 'foo'"),
        ("nn.LSTM(10, 20, 1, True, False, 0.0, False, 0, 9)", "at most 8 positional"),
        ("nn.LSTM(10, 20, hidden_size=3)", "multiple values for argument 'hidden_size'"),
        ("nn.LSTM(10, x)", "must be a literal"),
        ("nn.LSTM(10, 2 * 10)", "must be a literal"),
        ("nn.LSTM(10, [20])", "must be a literal"),
        ("nn.LSTM(10, 20, **opts)", "** unpacking"),
        ("nn.LSTM(10, 20, device='cuda')", "--device"),
        ("nn.LSTM(10, 20); import os", "not a valid Python expression"),
    ],
)
def test_parse_spec_refuses(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("*", r"\*").replace("(", r"\(")):
        parse_spec(text)


def test_code_in_a_spec_is_never_run(tmp_path: object) -> None:
    import pathlib

    marker = pathlib.Path(str(tmp_path)) / "ran"
    attempts = [
        f"nn.LSTM(__import__('pathlib').Path({str(marker)!r}).touch(), 20)",
        f"nn.LSTM(10, open({str(marker)!r}, 'w'))",
        f"nn.LSTM(10, 20, num_layers=exec('open({str(marker)!r}, \"w\")'))",
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        "nn.LSTM(10, 20)(__import__('os').system('exit 1'))",
        f"(lambda: open({str(marker)!r}, 'w'))()",
    ]
    for text in attempts:
        with pytest.raises(SpecError):
            parse_spec(text)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"bidirectional": "no"},
            "bidirectional must be True or False, got 'no'.*non-empty string",
        ),
        ({"batch_first": 1}, "batch_first must be True or False"),
        ({"hidden_size": True}, r"hidden_size \(--hidden-size\) must be an integer >= 1, got True"),
        ({"num_layers": True}, "num_layers"),
        ({"input_size": 0}, r"input_size \(--input-size\) must be an integer >= 1, got 0"),
        ({"cell": "rnn_cell", "hidden_size": 0}, "hidden_size"),
        ({"hidden_size": 2.5}, "hidden_size .* got 2.5 \\(a float\\)"),
        ({"batch": 0}, r"batch \(--batch\) must be an integer >= 1"),
        ({"seq_len": 0}, r"seq_len \(--seq-len\)"),
        ({"num_layers": 0}, "num_layers"),
        ({"seed": -1}, "seed"),
        ({"dropout": 1.5}, r"dropout \(--dropout\) must be a probability in \[0, 1\]"),
        ({"dropout": "0.5"}, "dropout"),
        ({"dropout": float("nan")}, "dropout"),
        ({"cell": "rnn_cell", "nonlinearity": "sigmoid"}, "'tanh' or 'relu', got 'sigmoid'"),
        ({"cell": "lstm", "nonlinearity": "relu"}, "RNN and RNNCell only"),
        ({"cell": "gru", "proj_size": 2}, "only supported for LSTM"),
        ({"cell": "lstm", "proj_size": 20}, "smaller than hidden_size"),
        ({"cell": "lstm", "proj_size": -1}, "proj_size"),
        ({"cell": "lstm_cell", "num_layers": 2}, "does not apply to LSTMCell"),
        ({"cell": "gru_cell", "seq_len": 5}, "does not apply to GRUCell"),
        ({"cell": "fancy"}, "cell .* must be one of rnn, lstm"),
        ({"unbatched": True, "batch": 4}, "--batch does not apply with --unbatched"),
        ({"hidden": 4}, "unknown setting 'hidden'"),
    ],
)
def test_make_spec_refuses(values: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec(**values)


def test_cells_accept_the_sequence_defaults_said_out_loud() -> None:
    spec = make_spec(cell="lstm_cell", num_layers=1, bidirectional=False, dropout=0)
    assert spec.cell is CellKind.LSTM_CELL


@pytest.mark.parametrize("signs", [2, 995, 5000])
def test_a_long_chain_of_minus_signs_is_read_without_recursion(signs: int) -> None:
    """995 minus signs before a number once raised RecursionError (exit 4); now they are a
    number, or too deep for Python's parser, and either way bad input (exit 2) at worst."""
    result = CliRunner().invoke(main, ["shapes", f"nn.LSTM({'-' * signs}10, 20)"])
    if signs % 2 == 0 and signs < 1000:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 2 and result.stderr.startswith("Error: ")
        assert "RecursionError" not in result.stderr and result.stderr.count("\n") == 1
