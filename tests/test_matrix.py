"""matrix: cases, combinations, validation first, exit codes, JUnit XML, --fail-fast."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main

IMPLS = Path(__file__).parent / "impls" / "manual.py"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    return path


def run(*args: str) -> tuple[int, str, str]:
    done = invoke("matrix", *args)
    return done.code, done.out, done.err


def run_json(path: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = invoke("matrix", path, *args, "--format", "json")
    assert done.out, done.err
    return done.code, done.document


def test_cases_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[case]]
name = "encoder"
spec = "nn.LSTM(6, 8, num_layers=2, bidirectional=True)"
impl = "{IMPLS}:LSTM"

[[case]]
spec = "nn.GRUCell(4, 8)"
""",
    )
    code, doc = run_json(path)
    assert code == 0
    cases = doc["cases"]
    assert isinstance(cases, list)
    assert [c["name"] for c in cases] == ["encoder", "nn.GRUCell(4, 8)"]
    assert cases[0]["impl"] == f"{IMPLS}:LSTM"
    assert all(c["ok"] and c["parity"] for c in cases)
    assert (doc["passed"], doc["failed"], doc["ok"]) == (2, 0, True)


def test_matrix_only_runs_every_combination_on_top_of_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[defaults]
batch = 2
hidden_size = 6

[matrix]
cell = ["rnn", "lstm", "gru"]
num_layers = [1, 2]
bidirectional = [false, true]
""",
    )
    code, doc = run_json(path)
    assert code == 0
    cases = doc["cases"]
    assert isinstance(cases, list) and len(cases) == 12
    configs = [c["config"] for c in cases]
    assert {(c["cell"], c["num_layers"], c["bidirectional"]) for c in configs} == {
        (cell, layers, bi)
        for cell in ("rnn", "lstm", "gru")
        for layers in (1, 2)
        for bi in (False, True)
    }
    assert all(c["batch"] == 2 and c["hidden_size"] == 6 for c in configs)
    assert len({c["name"] for c in cases}) == 12


def test_mixed_file_and_table_view(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[case]]
spec = "nn.GRU(4, 8)"
seq_len = 7

[matrix]
cell = ["rnn", "gru"]
""",
    )
    code, out, err = run(str(path))
    assert code == 0, err
    assert "nn.GRU(4, 8) seq_len=7" in out and "nn.RNN(10, 20)" in out
    assert "3 passed, 0 failed, 0 inconclusive; 3 cases" in out


def test_planted_wrong_impl_fails_exactly_its_own_case_and_junit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[case]]
name = "good"
spec = "nn.LSTM(6, 8)"
impl = "{IMPLS}:LSTM"

[[case]]
name = "wrong gates"
spec = "nn.LSTM(6, 8)"
impl = "{IMPLS}:LSTMWrongGateOrder"

[[case]]
name = "torch"
spec = "nn.GRU(6, 8)"
""",
    )
    xml_path = tmp_path / "report.xml"
    code, out, err = run(str(path), "--junit-xml", str(xml_path))
    assert code == 1, err
    assert "wrong gates: output: fail" in out
    assert "2 passed, 1 failed, 0 inconclusive" in out
    root = ET.parse(xml_path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"good", "wrong gates", "torch"}
    failure = cases["wrong gates"].find("failure")
    assert failure is not None and "output: fail" in (failure.text or "")
    assert cases["good"].find("failure") is None and cases["torch"].find("failure") is None


def test_fail_fast_skips_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[case]]
name = "wrong"
spec = "nn.LSTM(6, 8)"
impl = "{IMPLS}:LSTMOutputOff"

[[case]]
name = "never run"
spec = "nn.GRU(6, 8)"
""",
    )
    xml_path = tmp_path / "report.xml"
    code, doc = run_json(path, "--fail-fast", "--junit-xml", str(xml_path))
    assert code == 1
    cases = doc["cases"]
    assert isinstance(cases, list)
    assert [c["verdict"] for c in cases] == ["fail", "skipped"]
    suite = ET.parse(xml_path).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "1"


def test_markdown_view(tmp_path: Path) -> None:
    path = write(tmp_path, '[[case]]\nspec = "nn.RNN(4, 8)"\n')
    code, out, _ = run(str(path), "--format", "markdown")
    assert code == 0
    assert "| `nn.RNN(4, 8)` |" in out and "**1 passed, 0 failed, 0 inconclusive;" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[case]\nspec = 1", "not valid TOML"),
        (
            '[defaults]\nhiden_size = 4\n[[case]]\nspec = "nn.RNN(4, 8)"',
            "[defaults]: unknown key 'hiden_size'; did you mean 'hidden_size'?",
        ),
        (
            '[[case]]\nname = "x"\nspec = "nn.RNN(4, 8)"\nnum_layer = 2',
            "[[case]] 'x': unknown key 'num_layer'; did you mean 'num_layers'?",
        ),
        ('[matrix]\ncells = ["rnn"]', "[matrix]: unknown key 'cells'; did you mean 'cell'?"),
        ('[matrix]\ncell = "rnn"', "[matrix] cell must be a non-empty list"),
        (
            '[[case]]\nspec = "nn.RNN(4, 8)"\n[[case]]\nspec = "nn.GRU(4, 0)"',
            "[[case]] #2: hidden_size (--hidden-size) must be an integer >= 1, got 0",
        ),
        (
            '[matrix]\ncell = ["rnn", "gru"]\nnonlinearity = ["relu"]',
            "[matrix] cell='gru', nonlinearity='relu': nonlinearity (--nonlinearity) applies",
        ),
        ('[[case]]\nspec = "nn.LSTM(4, 8, foo=1)"', "unexpected keyword argument 'foo'"),
        ('[[case]]\nspec = "nn.RNN(4, 8)"\natol = -1', "--atol must be a finite number >= 0"),
        ('[[case]]\nspec = "nn.RNN(4, 8)"\nimpl = "nowhere.py:X"', "--impl: no such file"),
        ("[defaults]\nbatch = 2", "no cases"),
        ('surprise = 1\n[[case]]\nspec = "nn.RNN(4, 8)"', "unknown key 'surprise'"),
    ],
)
def test_validation_errors_exit_2_before_anything_runs(
    tmp_path: Path, text: str, message: str
) -> None:
    # a first case that would take long if it ran: nothing may run before validation ends
    path = write(tmp_path, text)
    code, out, err = run(str(path))
    assert code == 2, err
    assert out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert message in err


def test_unreadable_file_and_bad_junit_folder(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.toml"))
    assert code == 2 and "no such file" in err
    path = write(tmp_path, '[[case]]\nspec = "nn.RNN(4, 8)"\n')
    code, _, err = run(str(path), "--junit-xml", str(tmp_path / "no" / "such" / "r.xml"))
    assert code == 2 and "does not exist" in err


def test_device_unavailable_exits_3(tmp_path: Path) -> None:
    path = write(tmp_path, '[[case]]\nspec = "nn.RNN(4, 8)"\n')
    code, _, err = run(str(path), "--device", "mps")
    assert code == 3 and "MPS is not available" in err


def test_packed_cases_are_named_by_their_lengths(tmp_path: Path) -> None:
    path = write(tmp_path, '[matrix]\ncell = ["lstm"]\nlengths = [[3, 2], [4]]\n')
    code, doc = run_json(path)
    assert code == 0
    cases = doc["cases"]
    assert isinstance(cases, list)
    assert [c["name"] for c in cases] == [
        "nn.LSTM(10, 20) lengths=3,2",
        "nn.LSTM(10, 20) lengths=4",
    ]


def test_defaults_apply_where_they_have_meaning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[defaults]
batch = 2
seq_len = 7
num_layers = 2
proj_size = 3
nonlinearity = "relu"

[[case]]
spec = "nn.LSTMCell(4, 8)"

[[case]]
spec = "nn.LSTM(4, 8)"

[[case]]
cell = "gru"

[[case]]
spec = "nn.RNN(4, 8)"
""",
    )
    code, doc = run_json(path)
    assert code == 0, doc
    configs = [case["config"] for case in doc["cases"]]  # type: ignore[union-attr, index]
    cell, lstm, gru, rnn = configs
    assert (cell["batch"], cell["num_layers"], cell["seq_len"]) == (2, 1, 5)
    assert (lstm["seq_len"], lstm["num_layers"], lstm["proj_size"]) == (7, 2, 3)
    assert (gru["proj_size"], gru["nonlinearity"], gru["num_layers"]) == (0, "tanh", 2)
    assert (rnn["nonlinearity"], rnn["proj_size"]) == ("relu", 0)


def test_a_key_without_meaning_written_in_the_case_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[[case]]\nspec = "nn.LSTMCell(4, 8)"\nseq_len = 7\n')
    code, out, err = run(str(path))
    assert code == 2 and out == ""
    assert "seq_len (--seq-len) does not apply to LSTMCell" in err


def test_the_ci_md_example_file_loads(tmp_path: Path) -> None:
    from rnninspect.commands.matrix.matrix import load

    text = (Path(__file__).parent.parent / "docs" / "ci.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    example = "\n".join(line for line in example.splitlines() if not line.startswith("impl"))
    cases = load(write(tmp_path, example))
    assert len(cases) == 2 + 16
    assert cases[1].spec.cell.torch_name == "LSTMCell" and cases[1].spec.batch == 8


CHAOS_CASE = """
[[case]]
name = "chaos"
cell = "rnn"
input_size = 8
hidden_size = 32
batch = 4
seq_len = 500
weight_scale = 3.0

[[case]]
name = "calm"
spec = "nn.GRU(4, 8)"
"""


def test_inconclusive_is_counted_apart(tmp_path: Path) -> None:
    path = write(tmp_path, CHAOS_CASE)
    xml = tmp_path / "out.xml"
    code, out, _ = run(str(path), "--junit-xml", str(xml))
    assert code == 1
    assert "1 passed, 0 failed, 1 inconclusive" in " ".join(out.split())
    case = ET.parse(xml).getroot().find("testsuite/testcase[@name='chaos']")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "inconclusive"

    code, doc = run_json(path, "--allow-inconclusive")
    assert code == 0 and doc["ok"] is True
    assert (doc["passed"], doc["failed"], doc["inconclusive"]) == (1, 0, 1)
    assert doc["allow_inconclusive"] is True

    code, out, _ = run(str(path), "--allow-inconclusive", "--junit-xml", str(xml))
    assert code == 0 and "(allowed by --allow-inconclusive)" in out
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    case = suite.find("testcase[@name='chaos']")
    assert case is not None and case.find("failure") is None
    verdict = case.find("properties/property[@name='verdict']")
    assert verdict is not None and verdict.get("value") == "inconclusive"


def test_case_names_carry_every_option_that_differs_readably(tmp_path: Path) -> None:
    """A case with exporter = "legacy" was named "... runtime=onnx #2", and a list of runtimes
    showed as "runtime=['export', 'compile']"."""
    from rnninspect.commands.matrix.matrix import load

    path = tmp_path / "m.toml"
    path.write_text(
        '[[case]]\nspec = "nn.GRU(10, 20)"\nruntime = "onnx"\n'
        '[[case]]\nspec = "nn.GRU(10, 20)"\nruntime = "onnx"\nexporter = "legacy"\n'
        '[[case]]\nspec = "nn.GRU(10, 20)"\nruntime = ["export", "compile"]\n'
        '[[case]]\nspec = "nn.GRU(10, 20)"\nruntime = "onnx"\natol = 0.001\ntimeout = 30\n'
    )
    names = [case.name for case in load(path)]
    assert names == [
        "nn.GRU(10, 20) runtime=onnx",
        "nn.GRU(10, 20) runtime=onnx exporter=legacy",
        "nn.GRU(10, 20) runtime=export,compile",
        "nn.GRU(10, 20) atol=0.001 runtime=onnx",
    ]
    assert not any("#" in name or "[" in name for name in names)


def test_one_case_is_one_case_and_junit_rounds_the_noise_floor(tmp_path: Path) -> None:
    from xml.etree import ElementTree

    from click.testing import CliRunner

    from rnninspect.cli import main

    path = tmp_path / "m.toml"
    path.write_text('[[case]]\nspec = "nn.GRU(4, 8)"\natol = 0\nrtol = 0\n')
    report = tmp_path / "r.xml"
    result = CliRunner().invoke(main, ["matrix", str(path), "--junit-xml", str(report)])
    assert "1 case in" in " ".join(result.stdout.split()), result.stdout
    failure = ElementTree.parse(report).getroot().find(".//failure")
    assert failure is not None and failure.text is not None
    assert re.search(r"noise floor \d\.\d\de-\d\d;", failure.text), failure.text  # 1.02e-07
    assert not re.search(r"\d\.\d{6,}", failure.text), failure.text  # not 1.0179851600566892e-07


def test_the_results_stay_a_table_at_80_columns(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[matrix]\ncell = ["lstm", "gru"]\nnum_layers = [1, 2]\nbidirectional = [false, true]\n'
    )
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["matrix", str(path)])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and all(len(line) <= 80 for line in lines)
    assert any(line.split()[:2] == ["case", "worst"] for line in lines if line.strip())
    assert "…" not in result.stdout and "nn.GRU(10, 20, num_layers=2," in result.stdout
