"""Packed variable-length batches: shapes, parity of packed runs, FLOPs of valid steps."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from rnninspect.cli import main
from rnninspect.commands.verify.verification import verify
from rnninspect.core.options import VerifyOptions
from rnninspect.model.shapes import flop_count
from rnninspect.model.spec import SpecError, make_spec

LENGTHS = (5, 1, 3, 4)  # uneven, unsorted, with a length of 1

GRID = list(itertools.product(("rnn", "lstm", "gru"), (1, 2, 3), (False, True), (False, True)))


@pytest.mark.parametrize(("cell", "layers", "bidirectional", "batch_first"), GRID)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packed_verification_passes(
    cell: str, layers: int, bidirectional: bool, batch_first: bool, dtype: str
) -> None:
    spec = make_spec(
        cell=cell,
        input_size=3,
        hidden_size=5,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        lengths=LENGTHS,
        seq_len=6,
    )
    report = verify(spec, VerifyOptions(dtype=dtype, timing=False))
    assert report.ok, [row.to_dict() for row in report.rows if not row.ok]
    if dtype == "float64":
        assert max(row.comparison.max_abs_err for row in report.rows) < 1e-10


def test_packed_shapes_in_json() -> None:
    result = CliRunner().invoke(
        main,
        ["shapes", "nn.GRU(4, 8, bidirectional=True)", "--lengths", "5,3,2", "--format", "json"],
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    shapes = {t["name"]: t["shape"] for t in doc["tensors"]}
    assert shapes["packed_input.data"] == [10, 4]
    assert shapes["packed_input.batch_sizes"] == [5]
    assert shapes["packed_output.data"] == [10, 16]
    assert shapes["output"] == [5, 3, 16] and shapes["h_n"] == [2, 3, 8]
    assert doc["config"]["lengths"] == [5, 3, 2] and doc["config"]["batch"] == 3
    assert doc["ok"]


def test_packed_table_explains_h_n() -> None:
    result = CliRunner().invoke(
        main, ["shapes", "--cell", "lstm", "--bidirectional", "--lengths", "4,2", "--seq-len", "6"]
    )
    assert result.exit_code == 0
    out = " ".join(result.stdout.split())
    assert "packed: lengths 4,2 · batch 2 · seq_len 6" in out
    assert "h_n holds each sequence's own last valid step" in out
    assert "reverse direction the state after reading each sequence back" in out


def test_flops_count_valid_steps_only() -> None:
    packed = flop_count(make_spec(cell="lstm", input_size=4, hidden_size=8, lengths=(5, 3, 2)))
    one = flop_count(make_spec(cell="lstm", input_size=4, hidden_size=8, batch=1, seq_len=1))
    assert packed.macs == 10 * one.macs == 10 * 4 * 8 * (4 + 8)
    padded = flop_count(make_spec(cell="lstm", input_size=4, hidden_size=8, batch=3, seq_len=5))
    assert padded.macs == 15 * one.macs


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lengths": "5,0,2"}, "a sequence of length 0 cannot be packed"),
        ({"lengths": "5,x"}, "--lengths must be integers such as 5,3,2"),
        ({"lengths": "5,3", "seq_len": 4}, "--seq-len 4 is shorter than the longest of --lengths"),
        ({"lengths": "5,3", "batch": 3}, "--batch 3 disagrees with --lengths, which gives 2"),
        ({"lengths": "5,3", "cell": "gru_cell"}, "does not apply to GRUCell"),
        ({"lengths": "5,3", "unbatched": True}, "--lengths does not apply with --unbatched"),
    ],
)
def test_bad_lengths(values: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec(**values)


def test_bad_lengths_through_the_cli() -> None:
    for command in ("shapes", "verify", "bench"):
        result = CliRunner().invoke(main, [command, "--lengths", "3,0"])
        assert result.exit_code == 2 and result.stderr.startswith("Error: --lengths")
