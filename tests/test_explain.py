"""explain: relations checked numerically, a broken one reported, the diagram's golden output."""

from __future__ import annotations

import io
import itertools
import json
import re

import pytest
import torch
from click.testing import CliRunner
from rich.console import Console
from rich.text import Text

from rnninspect.api import explain
from rnninspect.cli import main
from rnninspect.commands.explain import check, diagram, equations, relation_pairs
from rnninspect.core.build import example_inputs, run_module, torch_module
from rnninspect.model.spec import make_spec

GRID = list(itertools.product(("rnn", "lstm", "gru"), (False, True), (False, True), (1, 2, 3)))


@pytest.mark.parametrize(("cell", "bidirectional", "batch_first", "layers"), GRID)
def test_every_relation_holds_on_the_real_module(
    cell: str, bidirectional: bool, batch_first: bool, layers: int
) -> None:
    spec = make_spec(
        cell=cell,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        input_size=3,
        hidden_size=4,
    )
    report = explain(spec)
    holding = [r for r in report.relations if r.expected]
    pitfalls = [r for r in report.relations if not r.expected]
    assert len(holding) == (2 if bidirectional else 1)
    assert all(r.holds and r.max_abs_err == 0 for r in holding), holding
    assert len(pitfalls) == bidirectional + (layers > 1)
    assert all(not r.holds and r.max_abs_err > 1e-3 for r in pitfalls), pitfalls
    assert report.ok
    assert len(report.h_n_rows) == layers * (2 if bidirectional else 1)
    # every index a sentence names is checked on the module too: "its final state is X" must
    # be the h_n row its relation compares (with batch_first, output[0] was sample 0)
    with torch.no_grad():
        module = torch_module(spec)
        results = run_module(module, spec, example_inputs(spec))
    for relation in pitfalls:
        for named in re.findall(r"final state is (output\[[^\]]*\])", relation.note):
            assert check(named, relation.rhs, results).holds, (named, relation.rhs)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_relations_hold_per_sequence(bidirectional: bool) -> None:
    spec = make_spec(
        cell="lstm", bidirectional=bidirectional, lengths="5,1,3", seq_len=6, batch_first=True
    )
    report = explain(spec)
    assert len(report.relations) == 3 * (2 if bidirectional else 1)
    assert all(r.holds for r in report.relations)
    assert report.relations[0].lhs == ("output[0, 4, :20]" if bidirectional else "output[0, 4]")


def test_a_broken_relation_is_reported_as_not_holding() -> None:
    spec = make_spec(cell="gru", seq_len=4)
    results = run_module(torch_module(spec), spec, example_inputs(spec))
    assert check("output[-1]", "h_n[0]", results).holds
    wrong = check("output[0]", "h_n[0]", results)  # the first step is not the final state
    assert not wrong.holds and wrong.max_abs_err > 1e-3


def test_relation_indexing_follows_the_layout() -> None:
    spec = make_spec(cell="lstm", num_layers=2, bidirectional=True, proj_size=5)
    assert [pair[:3] for pair in relation_pairs(spec)] == [
        ("output[-1, :, :5]", "h_n[2]", True),
        ("output[0, :, 5:]", "h_n[3]", True),
        ("output[-1, :, 5:]", "h_n[3]", False),
        ("output[-1, :, :5]", "h_n[0]", False),
    ]
    gru = relation_pairs(make_spec(cell="gru", batch_first=True))
    assert gru == [("output[:, -1]", "h_n[0]", True, "")]
    rnn = relation_pairs(make_spec(cell="rnn", unbatched=True))
    assert rnn == [("output[-1]", "h_n[0]", True, "")]
    assert relation_pairs(make_spec(cell="gru_cell")) == []


def test_explain_for_a_gru_never_mentions_a_cell_state(runner: CliRunner) -> None:
    result = runner.invoke(main, ["explain", "nn.GRU(10, 20, num_layers=2, bidirectional=True)"])
    assert result.exit_code == 0
    assert "c0" not in result.stdout and "c_n" not in result.stdout
    text = " ".join(result.stdout.split())
    assert "h_n[1]: layer 0 reverse" in text and "h_n.view(2, 2, N, 20)" in text
    assert "output[-1, :, 20:] h_n[3] differs, as it should" in text
    assert "output[-1, :, 20:] is not h_n[3]: the reverse direction" in text


def test_equations_name_the_rows_of_each_gate() -> None:
    lines = equations(make_spec(cell="lstm", input_size=10, hidden_size=20))
    assert any(
        line.startswith("g = tanh(W_ig x + b_ig + W_hg h + b_hg)")
        and "weight_ih_l0[40:60] (20x10)" in line
        for line in lines
    )
    gru = equations(make_spec(cell="gru", bias=False))
    assert any(line.startswith("n = tanh(W_in x + r * (W_hn h))") for line in gru)


GOLDEN_LSTM = """\
            t=0    t=1    t=2    t=3    t=4
layer 1 →   [o]──→ [o]──→ [o]──→ [o]──→ [*]
layer 1 ←   [*]←── [o]←── [o]←── [o]←── [o]
layer 0 →   [ ]──→ [ ]──→ [ ]──→ [ ]──→ [h]
layer 0 ←   [h]←── [ ]←── [ ]←── [ ]←── [ ]
o: in output (the top layer)   h: in h_n (each direction's last step)   *: both
c_n holds the cell states of the h and * cells
→ reads from t=0 to the end; ← reads from the end back to t=0: its h_n is at t=0"""

GOLDEN_LONG = """\
            t=0    t=1    t=2    t=3    ···    t=16   t=17   t=18   t=19
layer 3 →   [o]──→ [o]──→ [o]──→ [o]    ···    [o]──→ [o]──→ [o]──→ [*]
layer 2 →   [ ]──→ [ ]──→ [ ]──→ [ ]    ···    [ ]──→ [ ]──→ [ ]──→ [h]
layer 1 →   [ ]──→ [ ]──→ [ ]──→ [ ]    ···    [ ]──→ [ ]──→ [ ]──→ [h]
layer 0 →   [ ]──→ [ ]──→ [ ]──→ [ ]    ···    [ ]──→ [ ]──→ [ ]──→ [h]
o: in output (the top layer)   h: in h_n (each direction's last step)   *: both"""


def render(lines: list[str]) -> str:
    out = io.StringIO()
    console = Console(file=out, width=80, no_color=True, highlight=False)
    for line in lines:
        console.print(Text(line, no_wrap=True, overflow="ellipsis"))
    return out.getvalue().rstrip("\n")


def test_diagram_golden_output_in_80_columns() -> None:
    lstm = make_spec(cell="lstm", num_layers=2, bidirectional=True, seq_len=5)
    assert render(diagram(lstm)) == GOLDEN_LSTM
    long = make_spec(cell="gru", num_layers=4, seq_len=20)
    assert render(diagram(long)) == GOLDEN_LONG


@pytest.mark.parametrize(("layers", "steps"), [(4, 8), (4, 9), (4, 100), (1, 1)])
def test_diagram_fits_80_columns_up_to_4_layers_and_8_steps(layers: int, steps: int) -> None:
    spec = make_spec(cell="lstm", num_layers=layers, bidirectional=True, seq_len=steps)
    assert all(len(line) <= 80 for line in diagram(spec))


def test_explain_cli_json_and_formats() -> None:
    result = CliRunner().invoke(
        main, ["explain", "nn.GRU(4, 8, bidirectional=True)", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    holding = {"holds": True, "max_abs_err": 0.0, "expected": True, "note": ""}
    assert doc["relations"][:2] == [
        {"lhs": "output[-1, :, :8]", "rhs": "h_n[0]", **holding},
        {"lhs": "output[0, :, 8:]", "rhs": "h_n[1]", **holding},
    ]
    pitfall = doc["relations"][2]
    assert (pitfall["lhs"], pitfall["rhs"], pitfall["expected"]) == (
        "output[-1, :, 8:]",
        "h_n[1]",
        False,
    )
    assert pitfall["holds"] is False and pitfall["max_abs_err"] > 1e-3
    assert doc["h_n_rows"] == ["h_n[0]: layer 0 forward", "h_n[1]: layer 0 reverse"]
    assert doc["equations"] and doc["diagram"] and doc["tensors"]
    for fmt in ("table", "markdown"):
        result = CliRunner().invoke(main, ["explain", "--cell", "lstm", "--format", fmt])
        assert result.exit_code == 0 and "h_n[0]" in result.stdout
        assert "\x1b[" not in result.stdout


def test_explain_is_exact_on_float64_too() -> None:
    spec = make_spec(cell="rnn", bidirectional=True)
    results = run_module(
        torch_module(spec, dtype=torch.float64), spec, example_inputs(spec, dtype=torch.float64)
    )
    for lhs, rhs, expected, _ in relation_pairs(spec):
        assert check(lhs, rhs, results).holds == expected


def test_element_wise_equations_name_no_weights_and_a_cell_returns_its_cell_state() -> None:
    """explain of an LSTM printed "c' = f * c + i * g" with "weights: (100)", and an LSTMCell's
    unrolled line said the cell returns h1 alone."""
    lstm = equations(make_spec(cell="lstm", hidden_size=100))
    update = next(line for line in lstm if line.startswith("c' ="))
    equation, _, where = update.partition("    ")
    assert equation == "c' = f * c + i * g" and where.startswith("none: element by element")
    assert not any(line.partition("    ")[2] == "(100)" for line in lstm)
    gru = equations(make_spec(cell="gru", hidden_size=7))
    assert any(line.startswith("h' = (1 - z) * n + z * h    none:") for line in gru)
    cell = " ".join(diagram(make_spec(cell="lstm_cell")))
    assert "c0" in cell and "c1" in cell
    assert "c0" not in " ".join(diagram(make_spec(cell="gru_cell")))
