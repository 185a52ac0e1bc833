"""Hostile and careless input through the real command: each class of attack in several variants.

Every case asserts the exit code, a single ``Error:`` line on stderr where the run is refused, no
traceback, no raw control character on either stream, valid JSON or JUnit where one is written,
and that nothing outside what was asked for is touched. Process-level behaviour (code in the
current directory, Ctrl-C, a full disk, a process that dies) runs ``python -m rnninspect`` in a
subprocess; the rest goes through click's runner, which is the same code in-process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from clirun import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202e]")

EVIL = """
import os, sys, time
import torch
from torch import nn
print("printed at import")

class Exits(nn.GRU):
    def forward(self, x, h=None):
        sys.exit(0)

class Prints(nn.GRU):
    def forward(self, x, h=None):
        print("printed in forward")
        return super().forward(x, h)

class Loops(nn.GRU):
    def forward(self, x, h=None):
        while True:
            pass

class Sleeps(nn.GRU):
    def forward(self, x, h=None):
        time.sleep(60)

class Dies(nn.GRU):
    def forward(self, x, h=None):
        os._exit(0)

class Escapes(nn.GRU):
    def forward(self, x, h=None):
        raise ValueError("\\x1b]0;pwned\\x07 \\u202e gnp.exe")

class Crashes(nn.GRU):
    def forward(self, x, h=None):
        print("printed before the crash")
        import ctypes
        ctypes.string_at(0)

class Halt(BaseException):
    pass

class RaisesBase(nn.GRU):
    def forward(self, x, h=None):
        raise Halt("stop here")

class RaisesBaseInBackward(nn.GRU):
    def forward(self, x, h=None):
        output, h_n = super().forward(x, h)
        return Backward.apply(output), h_n

class Backward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise Halt("not in backward")

class OnMeta(nn.GRU):
    def forward(self, x, h=None):
        output, h_n = super().forward(x, h)
        return output.to("meta"), h_n
"""


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = invoke(*args, env=env)
    return done.code, done.out, done.err


def process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdout: object = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rnninspect", *args],
        cwd=cwd,
        env=environment,
        capture_output=stdout is None,
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE if stdout is not None else None,
        text=True,
        timeout=120,
    )


def refused(code: int, err: str, expected: int = 2) -> None:
    """One clear line and the exit code, nothing else."""
    assert code == expected, err
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    assert "Traceback" not in err and not RAW_CONTROL.search(err)


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    path = tmp_path / "evil.py"
    path.write_text(EVIL)
    return path


# --- code execution ---------------------------------------------------------------------------


def test_diagnose_runs_nothing_from_the_current_directory(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for name in ("json", "torch", "signal", "select"):
        (tmp_path / f"{name}.py").write_text(f"open({str(canary)!r}, 'w').write('{name}')\n")
    done = process(
        "diagnose", "nn.GRU(10, 20)", "--input-shape", "7,5,10", "--format", "json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["torch_ran"] is True
    assert not canary.exists()


# --- user code cannot turn CI green, print into stdout, or hang ------------------------------


def test_an_implementation_that_exits_fails(evil: Path) -> None:
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:Exits", "--format", "json")
    assert code == 1 and json.loads(out)["ok"] is False
    assert "called exit(0)" in err
    matrix = evil.parent / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\nimpl = "{evil}:Exits"\n')
    code, out, _ = cli("matrix", str(matrix), "--format", "json")
    assert code == 1 and json.loads(out)["failed"] == 1


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("Dies", "ended its process with exit status 0"),
        ("Crashes", "killed its process with SIGSEGV"),
    ],
)
def test_an_implementation_that_ends_the_process_fails_and_says_how(
    evil: Path, name: str, cause: str
) -> None:
    """os._exit(0) inside user code once ended verify with exit 0 and no output: CI green,
    nothing verified. Run as a user runs it, in a process of its own."""
    done = process(
        "verify", "nn.GRU(4, 8)", "--impl", f"{evil}:{name}", "--format", "json", cwd=evil.parent
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["verdict"] == "fail"
    assert cause in report["error"] and "nothing was verified" in report["error"]
    assert "Traceback" not in done.stderr and f"Error: the implementation under test {cause}" in (
        done.stderr
    )
    if name == "Crashes":  # what it printed before it died still reaches stderr
        assert "printed before the crash" in done.stderr
    matrix = evil.parent / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\nimpl = "{evil}:{name}"\n')
    done = process("matrix", str(matrix), "--format", "json", cwd=evil.parent)
    assert done.returncode == 1, done.stderr
    assert cause in json.loads(done.stdout)["cases"][0]["error"]
    done = process(
        "bench", "nn.GRU(4, 8)", "--impl", f"{evil}:{name}", "--min-time", "0.01", cwd=evil.parent
    )
    assert done.returncode == 1 and done.stdout == ""
    assert f"Error: an implementation under test {cause}" in done.stderr
    assert "nothing was timed" in done.stderr


@pytest.mark.parametrize(
    ("name", "where"), [("RaisesBase", "forward"), ("RaisesBaseInBackward", "back-propagation")]
)
def test_an_implementation_raising_a_base_exception_fails_in_one_line(
    evil: Path, name: str, where: str
) -> None:
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:{name}", "--format", "json")
    assert code == 1 and json.loads(out)["ok"] is False
    errors = [line for line in err.splitlines() if line != "printed at import"]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert errors[0].startswith("Error: ") and where in errors[0] and "raised Halt: " in errors[0]


def test_an_implementation_returning_a_tensor_on_another_device_fails_its_row(
    evil: Path,
) -> None:
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:OnMeta", "--format", "json")
    assert code == 1, err
    rows = {row["tensor"]: row for row in json.loads(out)["parity"]}
    assert rows["output"]["verdict"] == "fail" and "device meta" in rows["output"]["problem"]
    assert rows["h_n"]["verdict"] == "pass"
    assert rows["grad:input"]["verdict"] == "fail"


def test_what_an_implementation_prints_goes_to_stderr(evil: Path) -> None:
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:Prints", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    assert "printed at import" in err and "printed in forward" in err


@pytest.mark.parametrize("name", ["Loops", "Sleeps"])
def test_an_implementation_that_never_returns_times_out(evil: Path, name: str) -> None:
    started = time.monotonic()
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:{name}", "--timeout", "1")
    assert code == 1 and "timed out after 1 s" in err
    assert time.monotonic() - started < 30
    matrix = evil.parent / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\nimpl = "{evil}:{name}"\ntimeout = 1\n')
    code, out, _ = cli("matrix", str(matrix), "--format", "json")
    assert code == 1 and json.loads(out)["cases"][0]["error"] == "timed out after 1 s"


def test_a_process_that_dies_leaves_a_failing_junit_report(evil: Path) -> None:
    matrix = evil.parent / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\nimpl = "{evil}:Dies"\n')
    report = evil.parent / "report.xml"
    process("matrix", str(matrix), "--junit-xml", str(report), cwd=evil.parent)
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


# --- files: only what was asked, never a device or a FIFO, the umask's mode ------------------

MATRIX = '[[case]]\nname = "gru"\nspec = "nn.GRU(4, 8)"\n'


def test_junit_follows_a_symlink_and_takes_the_umask_mode(tmp_path: Path) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text(MATRIX)
    real, link = tmp_path / "real.xml", tmp_path / "link.xml"
    link.symlink_to(real)
    previous = os.umask(0o022)
    try:
        code, _, err = cli("matrix", str(matrix), "--junit-xml", str(link))
    finally:
        os.umask(previous)
    assert code == 0, err
    assert link.is_symlink() and real.is_file()
    assert ET.parse(real).getroot().find("testsuite/testcase[@name='gru']") is not None
    assert real.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "missing folder"])
def test_junit_never_replaces_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text(MATRIX)
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target = Path(os.devnull)
    elif kind == "folder":
        target.mkdir()
    else:
        target = tmp_path / "no" / "such" / "r.xml"
    before = os.stat(target).st_mode if target.exists() else None
    code, out, err = cli("matrix", str(matrix), "--junit-xml", str(target))
    refused(code, err)
    assert out == ""
    if before is not None:
        assert os.stat(target).st_mode == before


def test_output_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = process("shapes", cwd=tmp_path, stdout=full)
    refused(done.returncode, done.stderr)
    assert "No space left on device" in done.stderr


def test_a_closed_stdout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """``exec 1>&-; rnninspect shapes --format json`` once ended in a 16-line traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "rnninspect", "shapes", "--format", "json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),  # the child starts with fd 1 closed
    )
    refused(done.returncode, done.stderr)
    assert done.stderr == "Error: cannot write to stdout: it is closed\n"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["shapes", "nn.LSTM(10, 20, num_layers=300)", "--format", "json"], 0),
        (["verify", "nn.GRU(4, 8)", "--impl", "evil.py:Escapes", "--format", "json"], 1),
    ],
)
def test_a_reader_that_leaves_early_ends_the_command_quietly_with_its_own_code(
    evil: Path, args: list[str], code: int
) -> None:
    """``rnninspect ... | head``: the reader has what it wanted. The command ends with the exit
    code its check had (a failed check is still 1, so a pipeline under pipefail is not green),
    and says nothing about the pipe."""
    reader, writer = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "rnninspect", *args],
        cwd=evil.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(writer)
    os.close(reader)  # gone before anything was written
    _, err = child.communicate(timeout=120)
    assert child.returncode == code, err
    assert "Broken pipe" not in err and "Traceback" not in err
    assert sum(line.startswith("Error:") for line in err.splitlines()) == (1 if code else 0)


# --- numbers at every extreme: refused at once, in a line -------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "args",
    [
        ["shapes", f"nn.LSTM({HUGE}, 2)"],
        ["shapes", "nn.LSTM(10**310, 2)"],
        ["shapes", "nn.LSTM(99999999999999999999999999, 2)"],
        ["shapes", "--num-layers", "1000000000"],
        ["shapes", "nn.LSTM(10, 20, num_layers=100000000)"],
        ["verify", "--hidden-size", str(2**40)],
        ["shapes", "(" * 500 + "1" + ")" * 500],
        ["shapes", "nn.LSTM(" + "+".join(["1"] * 5000) + ")"],
        ["shapes", "--max-memory", "9" * 400],
        ["shapes", "--lengths", HUGE],
        ["shapes", "x" * 1_000_000],
    ],
    ids=lambda args: " ".join(args)[:40],
)
def test_extreme_numbers_are_refused_quickly(args: list[str]) -> None:
    started = time.monotonic()
    code, out, err = cli(*args)
    refused(code, err)
    assert out == "" and len(err) < 700
    assert time.monotonic() - started < 10


def test_a_very_long_sequence_is_answered_quickly() -> None:
    """Once refused as too many meta-device steps (and, below that cap, run for minutes): torch
    now runs at two short lengths and the shape model answers for the rest, and says so."""
    started = time.monotonic()
    code, out, err = cli("shapes", "--seq-len", "100000", "--num-layers", "5", "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["checked_at_seq_len"] in (None, [2, 3])  # a small module runs on the CPU
    assert time.monotonic() - started < 30


def test_a_huge_layer_index_is_an_inconsistent_group(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    for index in ("1000000000", HUGE):
        path = tmp_path / "bomb.safetensors"
        save_file({f"rnn.weight_ih_l{index}": torch.zeros(4, 2)}, str(path))
        code, out, _ = cli("infer", str(path), "--format", "json")
        assert code == 1
        (group,) = json.loads(out)["modules"]
        assert "cannot be a real module" in group["problem"]


def test_a_matrix_that_expands_beyond_reason_is_refused(tmp_path: Path) -> None:
    axes = "\n".join(
        f"{key} = [{', '.join(str(v) for v in range(1, 11))}]"
        for key in ("input_size", "hidden_size", "batch", "seq_len", "seed")
    )
    matrix = tmp_path / "m.toml"
    matrix.write_text(f"[matrix]\n{axes}\n")
    code, _out, err = cli("matrix", str(matrix))
    refused(code, err)
    assert "100,000 cases" in err


# --- what reaches the terminal ----------------------------------------------------------------


def test_control_characters_from_outside_are_shown_escaped(tmp_path: Path, evil: Path) -> None:
    import torch

    name = tmp_path / "ckpt\x1b]0;pwned\x07.pt"
    torch.save({"rnn\u202e.weight_ih_l0": torch.zeros(3, 2)}, name)
    for fmt in ("table", "markdown", "json"):
        code, out, err = cli("infer", str(name), "--format", fmt)
        assert code == 1 and not RAW_CONTROL.search(out + err), (fmt, out)
    code, out, err = cli("verify", "nn.GRU(4, 8)", "--impl", f"{evil}:Escapes")
    assert code == 1 and "\\x1b]0;pwned\\x07" in err and "\\u202e" in err
    assert not RAW_CONTROL.search(out + err)


@pytest.mark.parametrize("name", ["[/]", "[blink]x[/blink]", "[bold red]", "a\x1b[31mred\x00"])
def test_case_names_are_text_never_markup(tmp_path: Path, name: str) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text(f'[[case]]\nname = {json.dumps(name)}\nspec = "nn.GRU(4, 8)"\n')
    report = tmp_path / "r.xml"
    code, out, err = cli("matrix", str(matrix), "--junit-xml", str(report))
    assert code == 0, err
    assert not RAW_CONTROL.search(out)
    shown = name.replace("\x1b", "\\x1b").replace("\x00", "\\x00")
    assert shown in out
    ET.parse(report)  # valid XML, control characters and all


def test_a_stream_that_cannot_encode_our_symbols_gets_ascii(tmp_path: Path) -> None:
    args = ["explain", "nn.GRU(4, 8, bidirectional=True)"]  # ·, →, ←, ─ and × all appear
    done = process(*args, cwd=tmp_path, env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.isascii() and "layer 0 ->" in done.stdout


# --- matrix values ----------------------------------------------------------------------------


@pytest.mark.parametrize("line", ['zero_state = "no"', 'tf32 = "no"', "zero_state = 1"])
def test_matrix_booleans_must_be_toml_booleans(tmp_path: Path, line: str) -> None:
    matrix = tmp_path / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\n{line}\n')
    code, _, err = cli("matrix", str(matrix))
    refused(code, err)
    assert "must be true or false" in err


def test_case_names_come_out_unique(tmp_path: Path) -> None:
    cases = "".join(f'[[case]]\nname = "{n}"\nspec = "nn.GRU(4, 8)"\n' for n in ("a", "a", "a #2"))
    matrix = tmp_path / "m.toml"
    matrix.write_text(cases)
    code, out, _ = cli("matrix", str(matrix), "--format", "json")
    names = [case["name"] for case in json.loads(out)["cases"]]
    assert code == 0 and len(set(names)) == 3 and names[2] == "a #2"


# --- checkpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sparse", "integer"])
def test_a_weight_that_is_no_dense_float_is_refused_by_name(tmp_path: Path, kind: str) -> None:
    import torch
    from torch import nn

    state = nn.GRU(4, 8).state_dict()
    weight = state["weight_hh_l0"]
    state["weight_hh_l0"] = weight.to_sparse() if kind == "sparse" else weight.long()
    torch.save(state, tmp_path / "c.pt")
    code, _, err = cli("verify", "--weights", str(tmp_path / "c.pt"))
    refused(code, err)
    assert "weight_hh_l0 holds" in err


def test_a_refused_pickle_is_one_line(tmp_path: Path) -> None:
    from collections import OrderedDict as Custom  # a class weights-only loading allows

    import torch
    from torch import nn

    extra = re.compile("x")  # one it refuses
    torch.save(
        {"model": nn.GRU(4, 8).state_dict(), "extra": extra, "ok": Custom()}, tmp_path / "c.pt"
    )
    done = process("infer", str(tmp_path / "c.pt"), cwd=tmp_path)
    refused(done.returncode, done.stderr)
    assert "nothing in it was run" in done.stderr


# --- options a class does not have ------------------------------------------------------------


def test_proj_size_on_an_lstm_cell_is_refused() -> None:
    for command in ("shapes", "verify", "bench", "explain"):
        code, _, err = cli(command, "--cell", "lstm_cell", "--proj-size", "4")
        refused(code, err)
        assert "only supported for LSTM, not LSTMCell" in err


# --- Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Loops", "Sleeps"])
def test_ctrl_c_exits_130_at_once_with_one_line(evil: Path, name: str) -> None:
    report = evil.parent / "r.xml"
    matrix = evil.parent / "m.toml"
    matrix.write_text(f'[[case]]\nspec = "nn.GRU(4, 8)"\nimpl = "{evil}:{name}"\n')
    child = subprocess.Popen(
        [sys.executable, "-m", "rnninspect", "matrix", str(matrix), "--junit-xml", str(report)],
        cwd=evil.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not report.exists() and time.monotonic() < deadline:  # the unfinished report: running
        time.sleep(0.1)
    time.sleep(0.5)
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert time.monotonic() - started < 10
    assert "Traceback" not in err and err.strip().endswith("Error: interrupted")
    assert not list(evil.parent.glob(".r.xml.*")), "a temporary file stayed behind"


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.5, 0.7, 1.0, 2.5])
def test_every_ctrl_c_is_the_same_one_line(tmp_path: Path, delay: float) -> None:
    """Ctrl-C while the command imports, while torch imports, while it computes: each is the
    same single line on a pipe (click's blank line, meant to close a terminal's ^C echo, is
    printed only where stderr is a terminal), never a traceback, and never the abort
    (SIGABRT) of a KeyboardInterrupt raised where torch's import had called Python through
    pybind11, which once landed at 0.3 s on a loaded machine."""
    child = subprocess.Popen(
        [sys.executable, "-m", "rnninspect", "verify", "nn.LSTM(128, 128)", "--seq-len", "20000"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert err == "Error: interrupted\n"


def test_the_package_imports_nothing_before_the_command_takes_ctrl_c_over() -> None:
    """The ``rnninspect`` script imports rnninspect.entry, which takes Ctrl-C over in its first
    statements; the package it imports first loads no other module (a Ctrl-C 15 ms after start
    once landed in its import of typing and printed a traceback)."""
    probe = (
        "import sys, signal\n"
        "before = set(sys.modules)\n"
        "import rnninspect\n"
        "print(sorted(set(sys.modules) - before))\n"
        "import rnninspect.entry\n"
        "print(signal.getsignal(signal.SIGINT).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded, handler = done.stdout.splitlines()
    assert loaded == "['rnninspect']" and handler != "default_int_handler", done.stdout


OPTION_VALUES = {
    "num_layers": 2,
    "bias": False,
    "batch_first": True,
    "bidirectional": True,
    "nonlinearity": "relu",
    "dropout": 0.5,
    "proj_size": 3,
    "unbatched": True,
    "lengths": "3,2",
}


@settings(deadline=None)
@given(
    cell=st.sampled_from(["rnn", "lstm", "gru", "rnn_cell", "lstm_cell", "gru_cell"]),
    chosen=st.sets(st.sampled_from(sorted(OPTION_VALUES)), max_size=3),
)
def test_every_option_on_every_class_works_end_to_end_or_is_refused(
    cell: str, chosen: set[str]
) -> None:
    """Either the configuration is refused up front (exit 2, one line), or shapes agrees with
    torch and verify passes: never a configuration that half works."""
    import rnninspect
    from rnninspect.model.spec import SpecError, make_spec

    settings_ = {
        "cell": cell,
        "input_size": 4,
        "hidden_size": 6,
        **{k: OPTION_VALUES[k] for k in chosen},
    }
    try:
        make_spec(**settings_)
    except SpecError:
        for command in ("shapes", "verify"):
            code, _, err = cli(command, *_flags(settings_))
            refused(code, err)
        return
    code, _, err = cli("shapes", "--format", "json", *_flags(settings_))
    assert code == 0, err
    assert rnninspect.verify(None, **settings_).verdict in ("pass", "inconclusive")


def _flags(settings_: dict[str, object]) -> list[str]:
    args = []
    for key, value in settings_.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            args.append(f"--no-{key.replace('_', '-')}")
        else:
            args += [flag, str(value)]
    return args


def test_an_input_heavy_run_is_refused_under_a_limit_it_would_break() -> None:
    """Measured at 1.9 GiB peak RSS (benchmarks/memory_rss.py): 480 MiB must refuse it."""
    args = ["nn.RNN(2000, 1)", "--seq-len", "200", "--batch", "50", "--max-memory", "480MiB"]
    for command in ("verify", "bench"):
        code, out, err = cli(command, *args)
        refused(code, err)
        assert "with torch's own" in err and out == ""


def test_a_size_beyond_int64_is_refused_not_fitted() -> None:
    code, out, err = cli("diagnose", "nn.GRU(10, 20)", "--input-shape", "9223372036854775808,1,10")
    refused(code, err)
    assert "2**63 - 1" in err and out == ""


def test_an_output_path_through_a_missing_folder_is_refused_as_the_system_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a/../../nonexistent/../x.xml`` once had its ``..`` resolved as text and wrote outside
    the folder asked for; the system refuses such a path, and so does rnninspect."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "m.toml").write_text(MATRIX)
    code, _, err = cli("matrix", "m.toml", "--junit-xml", "a/../../nonexistent/../x.xml")
    refused(code, err)
    assert "does not exist" in err
    assert not (tmp_path / "x.xml").exists() and not (work / "x.xml").exists()
    (work / "a").mkdir()
    code, _, err = cli("matrix", "m.toml", "--junit-xml", "a/../x.xml")  # a real walk: fine
    assert code == 0, err
    assert (work / "x.xml").exists()


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.write_text("hello world\n"), "holds text, not a torch checkpoint"),
        (lambda p: p.write_bytes(b"\x00\x01\xff\xfe"), "holds bytes of another format"),
        (lambda p: p.write_bytes(b""), "is empty, not a torch checkpoint"),
        (lambda p: p.mkdir(), "is a folder, not a file"),
    ],
)
@pytest.mark.parametrize("name", ["notes", "model.pt"])
def test_a_file_that_is_no_checkpoint_says_what_it_is(
    tmp_path: Path, make: Any, said: str, name: str
) -> None:
    """A text file with no ending was an IndexError, one named .pt a KeyError: 101, a folder
    "no such file": each is now what it is."""
    path = tmp_path / name
    make(path)
    for args in (["infer", str(path)], ["verify", "--weights", str(path)]):
        code, out, err = cli(*args)
        refused(code, err)
        assert said in err and out == "", (args, err)


def test_a_device_is_not_a_file_to_read(tmp_path: Path) -> None:
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null here")
    for args in (
        ["infer", "/dev/null"],
        ["convert", "/dev/null", "--to", "keras", "-o", str(tmp_path / "x.keras")],
    ):
        code, _, err = cli(*args)
        refused(code, err)
        assert "/dev/null: is not a regular file (a character device)" in err
