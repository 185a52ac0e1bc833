"""matrix at scale: dtype and device per case, GitHub Actions' exclude/include, --shard, --jobs
and --yes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnninspect.cli import main
from rnninspect.commands.matrix import expand, shards
from rnninspect.commands.matrix.matrix import load

DOCS = Path(__file__).resolve().parent.parent / "docs"
IMPL = Path(__file__).parent / "impls" / "manual.py"


def matrix(tmp_path: Path, text: str, *args: str) -> tuple[int, dict[str, object], str]:
    path = tmp_path / "m.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["matrix", str(path), "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def test_include_as_github_documents_it() -> None:
    """The example of GitHub's documentation for ``include``, result for result."""
    table = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand.combinations(table) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_exclude_as_github_documents_it() -> None:
    """GitHub's example: 12 combinations, one excluded whole and two by a partial match."""
    table = {
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    }
    found = expand.combinations(table)
    assert len(found) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in found
    assert not [c for c in found if c["os"] == "windows-latest" and c["version"] == 16]


def test_the_cli_md_matrix_example_expands_as_it_says(tmp_path: Path) -> None:
    text = (DOCS / "cli.md").read_text()
    block = re.search(r"```toml\n(\[defaults\].*?)```", text, re.S)
    assert block is not None
    example = block.group(1).replace('impl = "mypkg.rnn:FastLSTM"\n', "")
    (tmp_path / "m.toml").write_text(example)
    cases = load(tmp_path / "m.toml")
    expanded = [c for c in cases if c.name != "encoder"]
    cells = [c.spec.cell.value for c in expanded]
    assert (cells.count("rnn"), cells.count("lstm"), cells.count("gru")) == (4, 2, 2)
    scaled = [c for c in expanded if c.options.weight_scale == 4.0]
    assert [(c.spec.cell.value, c.options.dtype) for c in scaled] == [("gru", "float64")]


def test_dtype_and_device_per_case_and_as_axes(tmp_path: Path) -> None:
    code, doc, _ = matrix(
        tmp_path,
        '[[case]]\nspec = "nn.GRU(4, 8)"\ndtype = "float64"\n'
        '[matrix]\ncell = ["lstm"]\ndtype = ["float32", "float64"]\ndevice = ["cpu"]\n',
    )
    assert code == 0
    cases = doc["cases"]
    assert isinstance(cases, list)
    assert [(c["name"], c["dtype"], c["device"]) for c in cases] == [
        ("nn.GRU(4, 8) dtype=float64", "float64", "cpu"),
        ("nn.LSTM(10, 20) device=cpu dtype=float32", "float32", "cpu"),
        ("nn.LSTM(10, 20) device=cpu dtype=float64", "float64", "cpu"),
    ]
    tolerances = {c["dtype"]: c["parity"][0]["atol"] for c in cases}
    assert tolerances["float64"] < tolerances["float32"]  # each ran in its own dtype


def test_a_bad_exclude_or_an_absent_device_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    code, _, stderr = matrix(tmp_path, '[matrix]\ncell = ["gru"]\nexclude = [{celll = "gru"}]\n')
    assert code == 2 and "unknown key 'celll'" in stderr
    code, _, stderr = matrix(tmp_path, '[matrix]\ncell = ["gru"]\nexclude = [{seed = 1}]\n')
    assert code == 2 and "exclude #1: 'seed' is not an axis of [matrix]" in stderr
    code, _, stderr = matrix(tmp_path, '[[case]]\ndtype = "float8"\n')
    assert code == 2 and "float8" in stderr
    import torch

    if not torch.cuda.is_available():
        code, _, stderr = matrix(tmp_path, '[[case]]\nname = "gpu"\ndevice = "cuda"\n')
        assert code == 3 and "[[case]] 'gpu'" in stderr


def _big_matrix(tmp_path: Path) -> Path:
    path = tmp_path / "big.toml"
    path.write_text(
        "[matrix]\n"
        'cell = ["rnn", "lstm", "gru"]\n'
        "hidden_size = [4, 64, 128]\n"
        "batch = [1, 16]\n"
        "num_layers = [1, 3]\n"
        "seq_len = [2, 50]\n"
        'exclude = [{cell = "rnn", hidden_size = 128, seq_len = 50}]\n'
        'include = [{cell = "lstm_cell"}, {cell = "gru_cell"}]\n'
    )
    return path


@pytest.mark.parametrize("n", range(1, 8))
def test_shards_cover_every_case_once_and_balance_cost(tmp_path: Path, n: int) -> None:
    cases = load(_big_matrix(tmp_path))
    slices = [shards.shard(cases, k, n) for k in range(1, n + 1)]
    names = [case.name for part in slices for case in part]
    assert sorted(names) == sorted(case.name for case in cases)  # each exactly once
    for part in slices:  # each slice keeps the file's order
        assert [c.name for c in part] == [c.name for c in cases if c in part]
    totals = [sum(shards.cost(case) for case in part) for part in slices]
    largest = max(shards.cost(case) for case in cases)
    # within 25% of an even split, unless one case alone is costlier than that
    assert max(totals) <= max(1.25 * sum(totals) / n, largest)
    if n <= 5:  # no case here costs more than a fifth of the whole
        assert largest <= sum(totals) / 5 and max(totals) <= 1.25 * sum(totals) / n


def test_shard_runs_its_slice_and_names_its_junit_suite(tmp_path: Path) -> None:
    text = '[matrix]\ncell = ["rnn", "gru"]\nnum_layers = [1, 2]\n'
    seen = []
    for k in (1, 2):
        xml = tmp_path / f"s{k}.xml"
        code, doc, _ = matrix(tmp_path, text, "--shard", f"{k}/2", "--junit-xml", str(xml))
        assert code == 0 and doc["shard"] == f"{k}/2"
        seen += [c["name"] for c in doc["cases"]]  # type: ignore[union-attr]
        assert f'name="rnninspect matrix (shard {k}/2)"' in xml.read_text()
    assert len(seen) == 4 and len(set(seen)) == 4
    for bad in ("0/2", "3/2", "two/3"):
        code, _, stderr = matrix(tmp_path, text, "--shard", bad)
        assert code == 2 and "--shard" in stderr


def test_jobs_give_the_same_report_as_one_process(tmp_path: Path) -> None:
    text = (
        f'[[case]]\nspec = "nn.LSTM(4, 8, num_layers=2)"\nimpl = "{IMPL}:LSTM"\n'
        f'[[case]]\nspec = "nn.LSTM(4, 8)"\nimpl = "{IMPL}:LSTMOutputOff"\n'
        '[matrix]\ncell = ["rnn", "gru", "gru_cell"]\ndtype = ["float32", "float64"]\n'
    )

    def timeless(doc: dict[str, object]) -> dict[str, object]:
        cases = [{k: v for k, v in c.items() if k != "seconds"} for c in doc["cases"]]  # type: ignore[attr-defined]
        return {**doc, "cases": cases, "seconds": None, "jobs": None}

    one = matrix(tmp_path, text)
    two = matrix(tmp_path, text, "--jobs", "2")
    assert one[0] == two[0] == 1  # LSTMOutputOff is wrong on purpose
    assert timeless(one[1]) == timeless(two[1]) and two[1]["jobs"] == 2
    fast = matrix(tmp_path, text, "--jobs", "2", "--fail-fast")
    assert [c["verdict"] for c in fast[1]["cases"]][:3] == ["pass", "fail", "skipped"]  # type: ignore[index]
    code, _, stderr = matrix(tmp_path, text, "--jobs", "0")
    assert code == 2 and "--jobs must be between 1 and 256" in stderr


def test_a_large_matrix_needs_yes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards, "ASK_CASES", 3)
    text = '[matrix]\ncell = ["rnn", "gru"]\nnum_layers = [1, 2]\n'
    code, doc, stderr = matrix(tmp_path, text)
    assert code == 2 and not doc
    assert re.search(r"Error: 4 cases, estimated \d+ s with --jobs 1 here: pass --yes", stderr)
    code, doc, stderr = matrix(tmp_path, text, "--yes")
    assert code == 0 and "Note: 4 cases, estimated" in stderr
