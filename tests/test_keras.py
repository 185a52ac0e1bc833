"""rnninspect keras: the mapping of every weight (torch-free), and --check running Keras on the
torch backend against the reference (skipped where Keras is not installed; CI installs it)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main
from rnninspect.commands.keras import mapping
from rnninspect.model.spec import make_spec


def run(*args: str) -> tuple[int, dict[str, object], str]:
    done = invoke("keras", *args, "--format", "json")
    assert done.out, done.err
    return done.code, done.document, done.err


def test_the_mapping_transposes_reorders_and_folds() -> None:
    gru = {
        row.keras: row
        for row in mapping.mapping(make_spec(cell="gru", input_size=4, hidden_size=8))
    }
    assert gru["kernel"].keras_shape == (4, 24) and gru["kernel"].torch_shape == (24, 4)
    assert "gates r,z,n reordered to z,r,h" in gru["kernel"].how
    assert gru["bias"].keras_shape == (2, 24) and gru["bias"].how.startswith("stacked")
    lstm = {row.keras: row for row in mapping.mapping(make_spec(cell="lstm", hidden_size=8))}
    assert lstm["bias"].how == "bias_ih + bias_hh" and lstm["bias"].torch == (
        "bias_ih_l0",
        "bias_hh_l0",
    )
    stacked = mapping.mapping(make_spec(cell="rnn", num_layers=2, bidirectional=True))
    assert [(r.layer, r.direction) for r in stacked[::3]] == [
        (0, "forward"),
        (0, "backward"),
        (1, "forward"),
        (1, "backward"),
    ]
    assert stacked[6].keras_shape == (40, 20)  # layer 1 reads both directions of layer 0


def test_the_table_prints_without_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keras", None)
    result = CliRunner().invoke(main, ["keras", "nn.LSTM(10, 20)"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "keras.layers.LSTM(20, return_sequences=True, return_state=True)" in text
    assert "fold into Keras's one exactly" in text
    result = CliRunner().invoke(main, ["keras", "nn.LSTM(10, 20)", "--check"])
    assert result.exit_code == 3
    assert (
        result.stderr.strip() == "Error: keras --check needs Keras: pip install 'rnninspect[keras]'"
    )


def test_what_has_no_keras_equivalent_is_said() -> None:
    code, doc, _ = run("nn.LSTM(10, 20, proj_size=5)")
    assert code == 1 and "Keras's LSTM has no projection" in str(doc["limits"])
    assert doc["check_not_run"] is None
    # the same question gets the same answer with --check: exit 1 and the report, nothing run
    code, checked, _ = run("nn.LSTM(10, 20, proj_size=5)", "--check")
    assert code == 1 and checked["limits"] == doc["limits"] and checked["parity"] is None
    assert checked["check_not_run"] == "no Keras layer computes this module"
    text = CliRunner().invoke(main, ["keras", "nn.LSTM(10, 20, proj_size=5)", "--check"])
    assert text.exit_code == 1 and "--check ran nothing" in " ".join(text.stdout.split())


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_initial_state_sentence_is_what_keras_takes(bidirectional: bool, keras: Any) -> None:
    """The sentence that says which rows of h0/c0 each Keras layer takes, followed literally with
    Keras's own layers, gives torch's h_n and c_n."""
    import torch

    spec = make_spec(
        cell="lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=bidirectional
    )
    sentence = " ".join(mapping.notes(spec))
    if bidirectional:
        assert "[h0[2*layer], c0[2*layer], h0[2*layer + 1], c0[2*layer + 1]]" in sentence
        rows = lambda layer: [2 * layer, 2 * layer + 1]  # noqa: E731
    else:
        assert "[h0[layer], c0[layer]]" in sentence and "2*layer" not in sentence
        rows = lambda layer: [layer]  # noqa: E731
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=bidirectional)
    directions = 2 if bidirectional else 1
    x = torch.randn(5, 2, 3)
    h0, c0 = torch.randn(2 * directions, 2, 4), torch.randn(2 * directions, 2, 4)
    with torch.no_grad():
        _, (h_n, c_n) = module(x, (h0, c0))
    sequence = x.transpose(0, 1)
    finals = []
    for layer, weights in enumerate(mapping.keras_weights(spec, module.state_dict())):
        inner = keras.layers.LSTM(4, return_sequences=True, return_state=True)
        built = keras.layers.Bidirectional(inner) if bidirectional else inner
        built.build((None, None, sequence.shape[-1]))
        built.set_weights(weights)
        initial = [t[row] for row in rows(layer) for t in (h0, c0)]
        sequence, *states = built(sequence, initial_state=initial)
        sequence = torch.as_tensor(sequence)
        finals += [torch.as_tensor(s) for s in states]
    keras_h = torch.stack(finals[0::2])
    keras_c = torch.stack(finals[1::2])
    assert torch.allclose(keras_h, h_n, atol=1e-5) and torch.allclose(keras_c, c_n, atol=1e-5)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "options", ["", ", bias=False", ", num_layers=2, bidirectional=True", ", batch_first=True"]
)
def test_keras_computes_what_torch_computes(cell: str, options: str, keras: Any) -> None:
    code, doc, _ = run(f"nn.{cell}(4, 8{options})", "--check")
    rows = doc["parity"]
    assert isinstance(rows, list)
    assert code == 0, rows
    expected = ["output", "h_n", "c_n"] if cell == "LSTM" else ["output", "h_n"]
    assert [row["tensor"] for row in rows] == expected
    assert all(row["max_abs_err"] < 1e-5 for row in rows)


def test_a_wrong_gate_order_is_caught(monkeypatch: pytest.MonkeyPatch, keras: Any) -> None:
    monkeypatch.setattr(mapping, "GRU_FROM_TORCH", (0, 1, 2))  # torch's order left as it is
    code, doc, _ = run("nn.GRU(4, 8)", "--check")
    assert code == 1
    rows = doc["parity"]
    assert isinstance(rows, list) and all(row["verdict"] == "fail" for row in rows)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("options", ["", ", bias=False"])
def test_keras_cells_compute_what_torch_cells_compute(cell: str, options: str, keras: Any) -> None:
    code, doc, _ = run(f"nn.{cell}(4, 8{options})", "--check")
    rows = doc["parity"]
    assert isinstance(rows, list) and code == 0, rows
    assert [row["tensor"] for row in rows] == (["h1", "c1"] if cell == "LSTMCell" else ["h1"])
    assert f"cell = keras.layers.{cell.replace('RNNCell', 'SimpleRNNCell')}(8" in str(
        doc["keras_code"]
    )
    code, doc, _ = run(f"nn.{cell}(4, 8{options})", "--check", "--unbatched")
    assert code == 0


@pytest.mark.parametrize(
    "options", ["", ", bias=False", ", num_layers=2, bidirectional=True, batch_first=True"]
)
def test_keras_reset_after_false_is_checked_against_the_reference_variant(
    options: str, keras: Any
) -> None:
    code, doc, _ = run(f"nn.GRU(4, 8{options})", "--no-reset-after", "--check")
    assert code == 0, doc["parity"]
    assert doc["reset_after"] is False and "reset_after=False" in str(doc["keras_code"])
    if "bias=False" not in options:
        bias = [row for row in doc["mapping"] if row["keras"] == "bias"]  # type: ignore[union-attr]
        assert bias[0]["keras_shape"] == [24] and bias[0]["how"].startswith("bias_ih + bias_hh")
    assert "No torch module computes it" in " ".join(doc["notes"])  # type: ignore[arg-type]


def test_the_reset_after_false_variant_is_not_torchs_gru() -> None:
    """The variant differs from nn.GRU by far more than rounding, so a Keras layer of either kind
    checked against the wrong one fails."""
    import torch

    from rnninspect.core.build import example_inputs, torch_module
    from rnninspect.reference import reference_forward

    spec = make_spec(cell="gru", input_size=4, hidden_size=8)
    module = torch_module(spec).double()
    params = dict(module.named_parameters())
    inputs = {k: v.double() for k, v in example_inputs(spec).items()}
    with torch.no_grad():
        torch_gru = reference_forward(spec, params, inputs)["output"]
        variant = reference_forward(spec, params, inputs, reset_after=False)["output"]
        real = module(inputs["input"], inputs["h0"])[0]
    assert torch.allclose(torch_gru, real, atol=1e-12)
    assert (variant - real).abs().max() > 1e-2


def test_reset_after_is_a_gru_setting() -> None:
    result = CliRunner().invoke(main, ["keras", "nn.LSTM(4, 8)", "--no-reset-after"])
    assert result.exit_code == 2
    assert "--no-reset-after is a Keras GRU setting; nn.LSTM has no reset gate" in result.stderr


@pytest.mark.parametrize("spec", ["nn.RNN(10, 2, 3)", "nn.GRU(10, 20, bidirectional=True)"])
def test_the_weight_table_stays_a_table_at_80_columns(spec: str) -> None:
    """At 80 columns (every pipe and CI log) the table fell back to stacked key: value records,
    about 60 lines for 9 rows; wrapped cells keep it a table, and no word is cut short."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["keras", spec])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert any(
        line.split() == ["Keras", "weight", "shape", "from", "torch", "shape", "how"]
        for line in lines
    )
    assert not any(line.lstrip().startswith("Keras weight:") for line in lines)
    assert all(len(line) <= 80 for line in lines) and "…" not in result.stdout
    assert "recurrent_kernel" in result.stdout and "layer 0" in result.stdout
    if "bidirectional" in spec:
        assert "weight_hh_l0_reverse" in result.stdout
    else:
        assert len(lines) < 45
