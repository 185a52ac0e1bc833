"""diagnose: each hint on the mistake it names, shapes that fit, torch's verdict, crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from clirun import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from rnninspect.cli import main
from rnninspect.commands.diagnose import diagnose as diagnose_module
from rnninspect.commands.diagnose import probe as probe_module
from rnninspect.commands.diagnose.diagnose import diagnose, parse_shape
from rnninspect.commands.diagnose.probe import torch_verdict
from rnninspect.model.spec import SpecError, make_spec


def run(*args: str) -> tuple[int, dict[str, object]]:
    done = invoke("diagnose", *args, "--format", "json")
    assert done.out, done.err
    return done.code, done.document


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
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("h0", 1, 7, 5)
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
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("h0", 0, 2, 4)
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
    assert (p["tensor"], p["dim"], p["got"], p["expected"]) == ("input", 2, 12, 10)
    assert p["meaning"] == "input_size (H_in)"


def test_lstm_given_a_single_state() -> None:
    p = problem(["nn.LSTM(10, 20)", "--input-shape", "5,7,10", "--h0-shape", "1,7,20"])
    assert (p["tensor"], p["got"]) == ("c0", None)
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
    assert (p["tensor"], p["dim"], p["expected"], p["meaning"]) == ("h0", 2, 5, "proj_size")
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
        probe_module, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    )
    ran, error = torch_verdict(make_spec(cell="lstm_cell"), (3, 10), (1, 3, 20), (1, 3, 20))
    assert not ran and error == "torch's probe could not run: its process died with SIGSEGV"


def test_model_and_torch_agree_on_what_fits() -> None:
    spec = make_spec(cell="lstm", num_layers=2, bidirectional=True)
    for h0 in [(4, 7, 20), (2, 7, 20), (4, 5, 20), (4, 7, 10)]:
        ours = diagnose(spec, (5, 7, 10), h0, (4, 7, 20))
        ran, error = torch_verdict(spec, (5, 7, 10), h0, (4, 7, 20))
        assert ran and (not ours) == (error is None), (h0, ours, error)


def test_2d_input_with_a_3d_state_names_the_unsqueeze_that_fits() -> None:
    p = problem(["nn.GRU(10, 20)", "--input-shape", "3,10", "--h0-shape", "1,3,20"])
    assert "input.unsqueeze(0)" in str(p["hint"]) and "one time step" in str(p["hint"])
    assert p["fix"] == {"input": [1, 3, 10]}
    p = problem(["nn.GRU(10, 20)", "--input-shape", "3,10", "--h0-shape", "1,1,20"])
    assert "input.unsqueeze(1)" in str(p["hint"]) and p["fix"] == {"input": [3, 1, 10]}
    p = problem(
        ["nn.GRU(10, 20, batch_first=True)", "--input-shape", "3,10", "--h0-shape", "1,3,20"]
    )
    assert "input.unsqueeze(1)" in str(p["hint"]) and p["fix"] == {"input": [3, 1, 10]}
    p = problem(["nn.GRU(10, 20)", "--input-shape", "3,10", "--h0-shape", "1,4,20"])
    assert "unsqueeze" not in str(p["hint"]) and p["fix"] is None


def test_a_fix_that_does_not_fit_is_not_proposed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = diagnose_module._unbatched_state

    def wrong(*args: object) -> diagnose_module.Problem:
        import dataclasses

        return dataclasses.replace(real(*args), fix={"input": (3, 7, 10)})  # type: ignore[arg-type]

    monkeypatch.setattr(diagnose_module, "_unbatched_state", wrong)
    (p,) = diagnose(make_spec(cell="gru"), (3, 10), (1, 3, 20))
    assert p.fix is None and p.hint == "h0 must be (1, 20)"


SHAPE_EDITS = [
    lambda s: s,
    lambda s: s[1:],
    lambda s: (1, *s),
    lambda s: (s[1], s[0], *s[2:]) if len(s) > 1 else s,
    lambda s: (*s[:-1], s[-1] + 1),
    lambda s: (s[0] * 2, *s[1:]),
]


@settings(deadline=None)
@given(
    cell=st.sampled_from(["rnn", "lstm", "gru", "rnn_cell", "lstm_cell", "gru_cell"]),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    edits=st.tuples(*[st.sampled_from(range(len(SHAPE_EDITS)))] * 3),
    batch=st.integers(1, 3),
)
def test_every_proposed_fix_fits_torch(
    cell: str,
    layers: int,
    bidirectional: bool,
    batch_first: bool,
    edits: tuple[int, ...],
    batch: int,
) -> None:
    """Shapes a step or two from right: every fix proposed, applied, clears its misfit; where
    the changed shapes then fit entirely, torch runs them."""
    import torch

    from rnninspect.core.build import torch_module
    from rnninspect.model.shapes import tensor_shapes

    settings_ = {"cell": cell, "input_size": 4, "hidden_size": 6, "batch": batch}
    if not cell.endswith("_cell"):
        settings_ |= {"num_layers": layers, "bidirectional": bidirectional, "seq_len": 5}
        settings_ |= {"batch_first": batch_first}
    spec = make_spec(**settings_)
    right = {t.name: t.shape for t in tensor_shapes(spec) if t.name in ("input", "h0", "c0")}
    given_ = {name: SHAPE_EDITS[e](right[name]) for name, e in zip(right, edits, strict=False)}
    for p in diagnose(spec, given_["input"], given_.get("h0"), given_.get("c0")):
        if p.fix is None:
            continue
        fixed = {**given_, **p.fix}
        before = {(q.tensor, q.dim) for q in diagnose(spec, *given_.values())}
        again = diagnose(spec, fixed["input"], fixed.get("h0"), fixed.get("c0"))
        touched = {p.tensor, *p.fix}
        remaining = {(q.tensor, q.dim) for q in again if q.tensor in touched}
        assert remaining <= before - {(p.tensor, p.dim)}, (p, again)
        if not again:
            module = torch_module(spec)
            state = [torch.zeros(fixed[n]) for n in ("h0", "c0") if fixed.get(n) is not None]
            with torch.no_grad():
                module(torch.zeros(fixed["input"]), state[0] if len(state) == 1 else tuple(state))


def test_lengths_are_checked_against_the_input() -> None:
    p = problem(["nn.LSTM(10, 20)", "--input-shape", "5,3,10", "--lengths", "6,3,2"])
    assert (p["tensor"], p["got"], p["expected"]) == ("lengths", 6, 5)
    code, doc = run("nn.LSTM(10, 20)", "--input-shape", "5,3,10", "--lengths", "5,3")
    assert code == 1 and doc["problems"][0]["got"] == 2 and doc["problems"][0]["expected"] == 3
    code, doc = run(
        "nn.GRU(10, 20, batch_first=True)", "--input-shape", "3,5,10", "--lengths", "5,3,2"
    )
    assert code == 0 and doc["fits"] and doc["torch_error"] is None
    assert doc["config"]["lengths"] == [5, 3, 2]
    code, doc = run("nn.GRU(10, 20)", "--input-shape", "5,10", "--lengths", "5")
    assert code == 1 and doc["problems"][0]["tensor"] == "lengths"


@pytest.mark.parametrize(
    "option", [["--batch", "4"], ["--seq-len", "9"], ["--unbatched"], ["--seed", "1"]]
)
def test_options_without_meaning_are_refused(option: list[str]) -> None:
    result = CliRunner().invoke(main, ["diagnose", "--input-shape", "5,3,10", *option])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {option[0]} has no meaning for diagnose")


def test_json_sizes_are_numbers_and_config_is_read_from_the_input() -> None:
    code, doc = run("nn.GRU(10, 20, batch_first=True)", "--input-shape", "7,9,12")
    assert code == 1
    assert (doc["config"]["batch"], doc["config"]["seq_len"]) == (7, 9)
    (p,) = doc["problems"]
    assert isinstance(p["got"], int) and isinstance(p["expected"], int)
    code, doc = run("nn.LSTM(10, 20)", "--input-shape", "5,7,10", "--h0-shape", "1,7,20")
    assert doc["shapes"]["c0"] is None and doc["problems"][0]["expected"] == [1, 7, 20]


def test_diagnose_runs_no_code_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = tmp_path / "ran"
    for name in ("json", "torch", "sys", "signal"):
        (tmp_path / f"{name}.py").write_text(f"open({str(canary)!r}, 'w').write('{name}')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    ran, error = torch_verdict(make_spec(cell="gru"), (7, 5, 10), None, None)
    assert ran and error is None
    assert not canary.exists()


def test_a_probe_that_dies_is_no_shape_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        probe_module, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    )
    code, doc = run("nn.RNN(1, 8)", "--input-shape", "5,1,1")
    assert code == 0 and doc["fits"] is True
    assert doc["torch_ran"] is False and doc["torch_error"] is None
    assert "could not run" in doc["torch_note"]


def test_a_probe_over_the_memory_limit_is_skipped_and_said() -> None:
    code, doc = run("nn.RNN(1, 512)", "--input-shape", "20000000,1,1")
    assert code == 0 and doc["fits"] is True and doc["torch_ran"] is False
    assert str(doc["torch_note"]).startswith("torch's probe was skipped")


def test_help_lists_only_what_diagnose_takes() -> None:
    """--batch, --seq-len, --unbatched and --seed are refused by diagnose, so its help does not
    offer them; given anyway, each is still refused with the reason."""
    from click.testing import CliRunner

    from rnninspect.cli import main

    text = CliRunner().invoke(main, ["diagnose", "--help"]).stdout
    for option in ("--batch ", "--seq-len", "--unbatched", "--seed"):
        assert option not in text, option
    assert "--input-shape" in text and "--batch-first" in text
    result = CliRunner().invoke(
        main, ["diagnose", "nn.GRU(4, 8)", "--input-shape", "5,3,4", "--seq-len", "9"]
    )
    assert result.exit_code == 2 and "--seq-len has no meaning for diagnose" in result.stderr


def _diagnosed(*args: str) -> dict[str, object]:
    from click.testing import CliRunner

    from rnninspect.cli import main

    result = CliRunner().invoke(main, ["diagnose", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_unsorted_lengths_say_what_was_assumed_and_both_fixes() -> None:
    """Lengths 2,6,4 fit with enforce_sorted=False, which diagnose assumed without saying; the
    user's script, on torch's default, fails. Both fixes named are checked here with torch."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    doc = _diagnosed(
        "nn.GRU(8, 16, batch_first=True)", "--input-shape", "3,6,8", "--lengths", "2,6,4"
    )
    said = " ".join(doc["read_as"])  # type: ignore[arg-type]
    assert "enforce_sorted=False" in said and "refuses lengths 2,6,4" in said
    assert "torch.sort(lengths, descending=True)" in said and "x.index_select(0, order)" in said
    x, lengths = torch.zeros(3, 6, 8), torch.tensor([2, 6, 4])
    gru = torch.nn.GRU(8, 16, batch_first=True)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(x, lengths, batch_first=True)  # torch's default, as the user has it
    gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))  # fix one
    lengths, order = torch.sort(lengths, descending=True)  # fix two, as the line writes it
    gru(pack_padded_sequence(x.index_select(0, order), lengths, batch_first=True))
    sorted_doc = _diagnosed("nn.GRU(8, 16)", "--input-shape", "6,3,8", "--lengths", "6,4,2")
    assert "enforce_sorted=True works too" in " ".join(sorted_doc["read_as"])  # type: ignore[arg-type]


def test_shapes_that_fit_say_how_they_were_read_and_the_other_layout() -> None:
    """A batch_first mix-up with no h0 fits: diagnose now says it read L=32, N=50, and that
    batch_first=True fits these shapes too (torch runs both, as this test checks)."""
    import torch

    doc = _diagnosed("nn.GRU(64, 128, num_layers=2)", "--input-shape", "32,50,64")
    said = " ".join(doc["read_as"])  # type: ignore[arg-type]
    assert "L=32 (sequence length) · N=50 (batch) · H_in=64" in said
    assert "batch_first=True" in said and "x.transpose(0, 1)" in said
    x = torch.zeros(32, 50, 64)
    for batch_first in (False, True):  # torch accepts both readings: only the user knows
        torch.nn.GRU(64, 128, num_layers=2, batch_first=batch_first)(x)
    square = _diagnosed("nn.GRU(4, 8)", "--input-shape", "1,5,4")
    assert len(square["read_as"]) == 1  # type: ignore[arg-type]  # a batch of one: no doubt
    flat = _diagnosed("nn.GRU(4, 8)", "--input-shape", "7,4")
    assert "unbatched" in " ".join(flat["read_as"])  # type: ignore[arg-type]
