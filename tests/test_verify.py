"""verify through the CLI: verdicts, fault injection, conditioning, devices, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main

IMPLS = Path(__file__).parent / "impls" / "manual.py"


def run(*args: str) -> tuple[int, str, str]:
    done = invoke("verify", *args)
    return done.code, done.out, done.err


def run_json(*args: str) -> tuple[int, dict[str, object]]:
    done = invoke("verify", *args, "--format", "json")
    assert done.out, done.err
    return done.code, done.document


def test_default_verify_passes_with_every_row() -> None:
    code, doc = run_json("nn.LSTM(10, 20, num_layers=2, bidirectional=True)")
    assert code == 0
    assert doc["ok"] is True and doc["verdict"] == "pass"
    assert doc["device"] == "cpu" and doc["dtype"] == "float32"
    rows = doc["parity"]
    assert isinstance(rows, list)
    names = [row["tensor"] for row in rows]
    assert names[:6] == ["output", "h_n", "c_n", "grad:input", "grad:h0", "grad:c0"]
    assert "grad:weight_hh_l1_reverse" in names and len(names) == 6 + 16
    for row in rows:
        assert set(row) >= {
            "tensor",
            "max_abs_err",
            "max_rel_err",
            "atol",
            "rtol",
            "ok",
            "verdict",
            "noise_floor",
        }
        assert row["verdict"] == "pass" and row["max_abs_err"] < 1e-5
        assert (row["atol"], row["rtol"]) == (1e-5, 1.3e-6)
    timing = doc["timing"]
    assert isinstance(timing, dict)
    for side in ("module", "reference", "module_backward", "reference_backward"):
        assert timing[side]["median_ms"] > 0 and timing[side]["runs"] > 0


def test_table_and_markdown_views() -> None:
    code, out, _ = run("nn.GRU(4, 8)")
    assert code == 0
    assert "torch's module on cpu in float32, against the reference in float64" in out
    assert "gradient of" in out and "weight_hh_l0" in out
    assert "Tolerance: atol 1e-05, rtol 1.3e-06 (torch.testing default for float32)." in out
    assert "PASS: all 8 rows within tolerance." in out
    code, out, _ = run("nn.GRU(4, 8)", "--format", "markdown")
    assert code == 0
    assert "| `grad:weight_hh_l0` |" in out and "**PASS: all 8 rows within tolerance.**" in out


def test_float64_errors_are_tiny_and_zero_state_is_said() -> None:
    code, doc = run_json("nn.RNN(4, 8, 2, 'relu')", "--dtype", "float64", "--zero-state")
    assert code == 0
    assert all(row["max_abs_err"] < 1e-10 for row in doc["parity"])  # type: ignore[union-attr]
    assert doc["zero_state"] is True


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precisions_pass_with_their_tolerances(dtype: str) -> None:
    code, doc = run_json("nn.LSTM(8, 16)", "--dtype", dtype)
    assert code == 0, doc
    tol = 1e-2 if dtype == "float16" else 5e-2
    assert {(row["atol"], row["rtol"]) for row in doc["parity"]} == {(tol, tol)}  # type: ignore[union-attr]


def test_dropout_is_said_not_exercised() -> None:
    code, doc = run_json("nn.GRU(4, 8, num_layers=2, dropout=0.5)")
    assert code == 0
    assert any("dropout=0.5 was not exercised" in note for note in doc["notes"])  # type: ignore[union-attr]


def test_tolerance_options_override_and_can_fail_a_correct_module() -> None:
    code, doc = run_json("nn.LSTM(8, 16)", "--atol", "0", "--rtol", "0")
    assert code == 1
    assert doc["verdict"] in ("fail", "inconclusive")
    code, doc = run_json("nn.LSTM(8, 16)", "--atol", "1e-3")
    assert code == 0 and doc["parity"][0]["atol"] == 1e-3  # type: ignore[index]


# --- --impl: a correct independent implementation and planted faults -----------------------


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3)", "LSTM"),
        ("nn.GRU(6, 8, num_layers=2, bidirectional=True, batch_first=True)", "GRU"),
        ("nn.RNN(6, 8, 2, 'relu', bidirectional=True)", "RNN"),
        ("nn.LSTMCell(6, 8)", "LSTMCell"),
        ("nn.GRUCell(6, 8, bias=False)", "GRUCell"),
        ("nn.RNNCell(6, 8, nonlinearity='relu')", "RNNCell"),
    ],
)
def test_correct_independent_implementation_passes(spec: str, name: str) -> None:
    code, doc = run_json(spec, "--impl", f"{IMPLS}:{name}")
    assert code == 0, [r for r in doc["parity"] if not r["ok"]]  # type: ignore[union-attr]
    assert all("torch_max_abs_err" in row for row in doc["parity"])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "name", "failing"),
    [
        ("nn.LSTM(6, 8, num_layers=2)", "LSTMWrongGateOrder", "output"),
        ("nn.GRU(6, 8)", "GRUResetBeforeProduct", "output"),
        ("nn.GRU(6, 8, bidirectional=True)", "GRUReverseNotReversed", "output"),
        ("nn.RNN(6, 8)", "RNNIgnoresBias", "output"),
        ("nn.LSTM(6, 8)", "LSTMOutputOff", "output"),
        ("nn.GRU(6, 8, num_layers=2)", "GRUNoGradWeightHH", "grad:weight_hh_l0"),
        ("nn.LSTMCell(6, 8)", "LSTMCellWrongGateOrder", "h1"),
    ],
)
def test_planted_faults_fail(spec: str, name: str, failing: str) -> None:
    code, doc = run_json(spec, "--impl", f"{IMPLS}:{name}")
    assert code == 1
    assert doc["verdict"] == "fail"
    rows = {row["tensor"]: row for row in doc["parity"]}  # type: ignore[union-attr]
    assert rows[failing]["verdict"] == "fail"


def test_output_offset_fault_is_shown_with_both_values() -> None:
    code, out, _ = run("nn.LSTM(6, 8)", "--impl", f"{IMPLS}:LSTMOutputOff")
    assert code == 1
    assert "output fails at [" in out and "implementation" in out and "reference" in out
    assert "FAIL: 1 fail of" in out


def test_missing_gradient_is_a_failure_not_a_skip() -> None:
    code, doc = run_json("nn.GRU(6, 8)", "--impl", f"{IMPLS}:GRUNoGradWeightHH")
    assert code == 1
    row = next(r for r in doc["parity"] if r["tensor"] == "grad:weight_hh_l0")  # type: ignore[union-attr]
    assert row["problem"] == "the implementation has none; the reference has one"


# --- conditioning: a chaotic recurrence is inconclusive, a per-step fault still fails -------

CHAOS = (
    "--cell",
    "rnn",
    "--input-size",
    "8",
    "--hidden-size",
    "32",
    "--batch",
    "4",
    "--seq-len",
    "500",
    "--weight-scale",
    "3",
)


def test_chaotic_correct_module_is_inconclusive_not_fail() -> None:
    code, doc = run_json(*CHAOS)
    assert doc["verdict"] == "inconclusive", [
        (r["tensor"], r["verdict"], r["reason"])
        for r in doc["parity"]  # type: ignore[union-attr]
    ]
    assert code == 1
    steps = doc["steps"]
    assert isinstance(steps, dict) and steps["forward_ok"] and steps["backward_ok"]
    code, _ = run_json(*CHAOS, "--allow-inconclusive")
    assert code == 0


def test_chaotic_per_step_fault_fails() -> None:
    code, doc = run_json(*CHAOS, "--impl", f"{IMPLS}:RNNIgnoresBias")
    assert code == 1
    assert doc["verdict"] == "fail"
    steps = doc["steps"]
    assert isinstance(steps, dict) and not steps["forward_ok"]


def test_the_same_chaos_is_a_pass_in_float64() -> None:
    code, doc = run_json(*CHAOS, "--dtype", "float64")
    assert code == 0, doc["verdict"]


# --- devices, dtypes and bad input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--device", "tpu"], 2, "--device must be cpu, cuda, cuda:N, mps or auto, got 'tpu'"),
        (["--dtype", "float8"], 2, "'float8' is not one of"),
        (["--atol", "-1"], 2, "--atol must be a finite number >= 0"),
        (["--rtol", "abc"], 2, "'abc' is not a valid float"),
        (["--atol", "inf"], 2, "--atol must be a finite number >= 0"),
        (["--weight-scale", "-2"], 2, "--weight-scale must be a finite number > 0"),
        (["--impl", "nonsense"], 2, "--impl must be path/to/file.py:Name"),
        (["--impl", "missing.py:X"], 2, "--impl: no such file 'missing.py'"),
        (["--impl", "no_such_package_xyz:X"], 2, "importing it failed: ModuleNotFoundError"),
        (["--impl", f"{IMPLS}:Nope"], 2, "has no attribute 'Nope'"),
        (["--impl", f"{IMPLS}:NOT_CALLABLE"], 2, "is not callable (it is of type int)"),
        (["--impl", f"{IMPLS}:NotAModule"], 2, "it returned a dict, not a torch.nn.Module"),
        (["--impl", f"{IMPLS}:WrongNames"], 2, "its state_dict lacks torch's key 'weight_ih_l0'"),
        (["--impl", f"{IMPLS}:LSTM"], 2, "weight_ih_l0 has shape [80, 10], torch's has [20, 10]"),
        (["--max-memory", "2K"], 2, "over the memory limit"),
        (["--hidden-size", "0"], 2, "hidden_size (--hidden-size) must be an integer >= 1"),
        (["--device", "mps"], 3, "MPS is not available"),
    ],
)
def test_bad_input(args: list[str], code: int, message: str) -> None:
    got, out, err = run(*args)
    assert got == code, err
    assert out == ""
    assert err.startswith("Error: ") and err.count("\n") == 1 and message in err, err


def test_cuda_unavailable_exits_3() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out, err = run("--device", "cuda")
    assert code == 3 and out == ""
    assert err.startswith("Error: --device cuda:") or err.startswith("Error: --device cuda")


def test_impl_file_exiting_on_import_is_a_bad_target(tmp_path: Path) -> None:
    target = tmp_path / "quits.py"
    target.write_text("raise SystemExit(4)\n")
    code, _, err = run("--impl", f"{target}:X")
    assert code == 2 and "importing it called exit(4)" in err


def test_local_torch_py_does_not_shadow_torch(tmp_path: Path) -> None:
    (tmp_path / "torch.py").write_text("raise RuntimeError('shadowed')\n")
    source = IMPLS.read_text()
    (tmp_path / "mine.py").write_text(source)
    code, doc = run_json("nn.GRU(4, 8)", "--impl", f"{tmp_path / 'mine.py'}:GRU")
    assert code == 0, doc


def test_module_target_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "myrnn"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cells.py").write_text(IMPLS.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    code, doc = run_json("nn.LSTM(4, 8)", "--impl", "myrnn.cells:LSTM")
    assert code == 0, doc
    assert doc["impl"] == "myrnn.cells:LSTM"


# --- what third-party implementations did: names, structure, shapes, dtypes, packing ---------

BROKEN = Path(__file__).parent / "impls" / "broken.py"


def test_a_fault_in_layer_1_reverse_is_seen_by_the_steps_and_named() -> None:
    spec = "nn.GRU(4, 8, num_layers=2, bidirectional=True)"
    code, doc = run_json(spec, "--impl", f"{IMPLS}:GRULayer1ReverseIgnoresBias")
    assert code == 1
    steps = doc["steps"]
    assert isinstance(steps, dict)
    assert not steps["forward_ok"] and "(layer 1 reverse)" in str(steps["forward_worst"])
    assert not steps["backward_ok"] and "_l1_reverse" in str(steps["backward_worst"])
    rows = {r["tensor"]: r["verdict"] for r in doc["parity"]}  # type: ignore[union-attr]
    assert rows["grad:bias_hh_l1_reverse"] == "fail"
    assert "grad of bias_ih_l0" not in json.dumps(doc)  # names of the one-layer sub-module


def test_the_same_module_passes_its_steps_when_correct() -> None:
    spec = "nn.GRU(4, 8, num_layers=2, bidirectional=True)"
    code, doc = run_json(spec, "--impl", f"{IMPLS}:GRU")
    assert code == 0 and doc["steps"] is None


def test_a_failing_element_is_named_by_gate_unit_and_column() -> None:
    code, out, _ = run("nn.LSTM(4, 20)", "--impl", f"{IMPLS}:LSTMWrongGateOrder")
    assert code == 1
    text = " ".join(out.split())
    assert "(gate " in text and ", unit " in text and "input feature " in text
    assert "hidden unit " in text and "of h_t-1" in text


def test_element_meaning_follows_torchs_layout() -> None:
    from rnninspect.model.shapes import element_meaning
    from rnninspect.model.spec import make_spec

    lstm = make_spec(cell="lstm", hidden_size=20, num_layers=2, bidirectional=True)
    assert element_meaning(lstm, "grad:bias_ih_l0", (39,)) == "gate f, unit 19"
    assert element_meaning(lstm, "grad:weight_ih_l1", (60, 25)) == (
        "gate o, unit 0; layer 0 reverse output 5"
    )
    assert element_meaning(lstm, "h_n", (3, 1, 5)) == "layer 1 reverse, sample 1, unit 5"
    gru = make_spec(cell="gru", hidden_size=8, batch_first=True)
    assert element_meaning(gru, "grad:weight_hh_l0", (17, 2)) == (
        "gate n, unit 1; hidden unit 2 of h_t-1"
    )
    assert element_meaning(gru, "output", (2, 4, 7)) == "step 4, sample 2, unit 7"


def test_a_fail_says_error_and_tolerance_not_noisiness() -> None:
    code, out, _ = run("nn.GRU(4, 8, num_layers=2)", "--impl", f"{IMPLS}:GRUResetBeforeProduct")
    text = " ".join(out.split())
    assert code == 1
    assert "as noisy as" not in text
    assert "is allowed (atol 1e-05, rtol 1.3e-06)" in text
    assert "a step beyond tolerance is a wrong computation" in text


def test_a_forward_of_the_wrong_structure_says_what_was_expected() -> None:
    code, out, err = run("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:FlatLSTM")
    assert code == 1 and out == ""
    assert err.strip() == (
        "Error: the implementation's forward returned (Tensor[5, 3, 8], Tensor[1, 3, 8], "
        "Tensor[1, 3, 8]), where nn.LSTM's forward returns (output, (h_n, c_n))"
    )


def test_json_is_written_when_the_implementation_raises() -> None:
    code, out, err = run("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:FlatLSTM", "--format", "json")
    assert code == 1 and err.startswith("Error: the implementation's forward returned")
    doc = json.loads(out)
    assert doc["ok"] is False and doc["verdict"] == "fail" and doc["parity"] == []
    assert "where nn.LSTM's forward returns" in doc["error"]
    assert doc["config"]["cell"] == "lstm" and doc["impl"].endswith(":FlatLSTM")


def test_an_output_of_the_wrong_shape_fails_its_row_and_the_gradients_say_why() -> None:
    code, doc = run_json("nn.GRU(4, 8)", "--impl", f"{BROKEN}:ShortOutputGRU")
    assert code == 1
    rows = {r["tensor"]: r for r in doc["parity"]}  # type: ignore[union-attr]
    assert rows["output"]["problem"] == "shape [4, 3, 8], where the reference has [5, 3, 8]"
    assert rows["h_n"]["verdict"] == "pass"
    for name in ("grad:input", "grad:weight_hh_l0"):
        assert rows[name]["verdict"] == "fail"
        assert str(rows[name]["problem"]).startswith("not comparable: output has shape [4, 3, 8]")


def test_a_result_in_another_dtype_fails() -> None:
    args = ("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:Float32StateLSTM", "--dtype", "float64")
    code, doc = run_json(*args)
    assert code == 1
    rows = {r["tensor"]: r for r in doc["parity"]}  # type: ignore[union-attr]
    for name in ("h_n", "c_n"):
        assert rows[name]["verdict"] == "fail"
        assert rows[name]["problem"] == "dtype float32, where float64 was asked"
    assert rows["output"]["verdict"] == "pass"


def test_a_fault_only_packing_shows_is_not_called_rounding() -> None:
    args = ("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:EarlyEndsDetachedLSTM", "--lengths", "5,3,2")
    code, doc = run_json(*args)
    assert code == 1 and doc["verdict"] == "fail"
    failing = [r for r in doc["parity"] if r["verdict"] == "fail"]  # type: ignore[union-attr]
    assert failing and all("sequences that end at different steps" in r["reason"] for r in failing)
    assert any("cannot see how the implementation handles" in n for n in doc["notes"])  # type: ignore[union-attr]
    code, doc = run_json("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:EarlyEndsDetachedLSTM")
    assert code == 0  # without packing it is torch's own LSTM


def test_a_wrapper_is_told_about_its_prefix() -> None:
    code, _, err = run("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:Wrapped")
    assert code == 2
    assert "which it has as 'lstm.weight_ih_l0'" in err and "prefix 'lstm.'" in err


def test_module_target_resolves_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    package = tmp_path / "localrnn"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cells.py").write_text(IMPLS.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code, doc = run_json("nn.GRU(4, 8)", "--impl", "localrnn.cells:GRU")
    assert code == 0, doc


def test_timing_modes() -> None:
    from rnninspect.core.options import VerifyOptions
    from rnninspect.model.spec import SpecError

    assert VerifyOptions(timing=True).timing == "quick"
    assert VerifyOptions(timing=False).timing == "off"
    with pytest.raises(SpecError, match="--timing must be one of off, quick, full"):
        VerifyOptions(timing="slow")
    for mode, timed in (("off", False), ("quick", True)):
        result = CliRunner().invoke(
            main, ["verify", "nn.GRU(4, 8)", "--timing", mode, "--format", "json"]
        )
        doc = json.loads(result.stdout)
        assert result.exit_code == 0 and doc["timing_mode"] == mode
        assert bool(doc["timing"]) is timed
        if timed:
            assert {"module", "reference", "module_backward"} <= set(doc["timing"])
    table = CliRunner().invoke(main, ["verify", "nn.GRU(4, 8)"]).stdout
    assert "Timing (quick, in about the time the parity work took:" in " ".join(table.split())


def test_a_quick_timing_slower_than_its_share_is_one_call_and_says_so() -> None:
    """verify's quick line costs about what the check took: a side whose one call outlasts its
    share is timed once (its warm-up), with no spread, and the line says "1 call"."""
    import dataclasses
    import io
    import time

    from rnninspect.commands.verify.verification import verify
    from rnninspect.core.timing import measure_quickly
    from rnninspect.model.spec import make_spec
    from rnninspect.render import emit

    slow = measure_quickly(lambda: time.sleep(0.02), 0.005, min_blocks=1)
    assert (slow.runs, slow.blocks, slow.iqr_ms) == (1, 1, None) and slow.median_ms >= 20
    fast = measure_quickly(lambda: None, 0.005, min_blocks=1)
    assert fast.runs > 1 and fast.iqr_ms is not None

    report = verify(make_spec(cell="gru", input_size=4, hidden_size=8))
    timing = {**report.timing, "reference_backward": slow}
    out = io.StringIO()
    emit(dataclasses.replace(report, timing=timing), "table", out, width=200)
    text = " ".join(out.getvalue().split())
    assert f"reference {slow.median_ms:.3g} ms (1 call)." in text
    assert "module" in text and text.count("(1 call)") == 1


RELU_SPECS = [
    ("nn.RNNCell(32, 128, nonlinearity='relu')", "RNNCell", ("--batch", "16")),
    ("nn.RNN(32, 64, nonlinearity='relu')", "RNN", ("--batch", "16", "--seq-len", "10")),
    (
        "nn.RNN(32, 64, num_layers=2, nonlinearity='relu', bidirectional=True)",
        "RNN",
        ("--batch", "16", "--seq-len", "10"),
    ),
]


@pytest.mark.parametrize(("spec", "kind", "sizes"), RELU_SPECS)
def test_relu_kink_crossings_are_inconclusive_and_a_leaking_relu_gradient_fails(
    spec: str, kind: str, sizes: tuple[str, ...]
) -> None:
    """Pre-activations 0.02 high (inside bfloat16's forward tolerance) cross relu's kink, and
    the gradients jump there: checked on the implementation's own branches, its step agrees,
    so the rows are inconclusive, never fail. A relu whose backward lets the gradient through
    where it was off is a wrong kernel and fails, on the same branches."""
    shifted = f"{IMPLS}:{kind}ReluShifted"
    code, doc = run_json(spec, *sizes, "--dtype", "bfloat16", "--impl", shifted)
    rows = doc["parity"]
    assert isinstance(rows, list) and isinstance(doc["steps"], dict)
    assert code == 1 and doc["verdict"] == "inconclusive", rows
    unsettled = [row for row in rows if row["verdict"] != "pass"]
    assert unsettled and all(row["tensor"].startswith("grad:") for row in unsettled)
    assert all(row["verdict"] == "inconclusive" and "kink" in row["reason"] for row in unsettled)
    assert doc["steps"]["steps"] == (1 if kind == "RNNCell" else 10)
    assert doc["steps"]["backward_ok"] is True

    leaking = f"{IMPLS}:{kind}ReluLeaksGradient"
    code, doc = run_json(spec, *sizes, "--dtype", "bfloat16", "--impl", leaking)
    rows = doc["parity"]
    assert isinstance(rows, list) and isinstance(doc["steps"], dict)
    assert code == 1 and doc["verdict"] == "fail"
    assert doc["steps"]["backward_ok"] is False
    assert any("a single step disagrees" in row["reason"] for row in rows)


def test_torchs_relu_cell_in_bfloat16_is_not_judged_fail() -> None:
    """The configuration the CPU tolerance study judged fail before a Cell had a step check:
    torch's own RNNCell, relu, bfloat16, with gradients across relu's kink."""
    code, doc = run_json(
        "nn.RNNCell(32, 128, nonlinearity='relu')", "--batch", "8", "--seed", "6194",
        "--dtype", "bfloat16",
    )  # fmt: skip
    assert doc["verdict"] in ("pass", "inconclusive") and code in (0, 1)
    rows = doc["parity"]
    assert isinstance(rows, list) and not [row for row in rows if row["verdict"] == "fail"]


@pytest.mark.parametrize(("spec", "kind", "sizes"), RELU_SPECS)
def test_a_relu_kernel_that_recomputes_its_mask_with_bfloat16_rounding_is_not_failed(
    spec: str, kind: str, sizes: tuple[str, ...]
) -> None:
    """A kernel whose backward takes relu's mask from the pre-activation recomputed one
    bfloat16 epsilon of its terms off (as a kernel that recomputes in bfloat16 may) disagrees
    with its own forward branches only at the kink: in bfloat16 its steps agree, since no
    upstream gradient reaches a pre-activation there (through the layers above included), and
    it is inconclusive; in float32 the same error is far beyond rounding and fails."""
    recomputed = f"{IMPLS}:{kind}ReluRecomputed"
    code, doc = run_json(spec, *sizes, "--dtype", "bfloat16", "--impl", recomputed)
    steps = doc["steps"]
    assert doc["verdict"] == "inconclusive" and isinstance(steps, dict), doc["parity"]
    assert steps["backward_ok"] is True and steps["forward_ok"] is True
    code, doc = run_json(spec, *sizes, "--dtype", "float32", "--impl", recomputed)
    steps = doc["steps"]
    assert code == 1 and doc["verdict"] == "fail" and isinstance(steps, dict)
    assert steps["backward_ok"] is False


def test_no_upstream_gradient_reaches_a_relu_pre_activation_at_the_kink() -> None:
    """kink_free_upstream, checked on the reference itself: with the upstream it returns, the
    gradient arriving at every layer and direction's output is zero wherever the
    pre-activation is at the kink for bfloat16, and unchanged in the top layer elsewhere."""
    import torch

    from rnninspect.core.build import example_inputs, torch_module
    from rnninspect.model.spec import make_spec
    from rnninspect.reference.step import KINK_ROUNDING, kink_free_upstream, one_step

    spec = make_spec(
        cell="rnn", input_size=16, hidden_size=32, num_layers=3, bidirectional=True,
        nonlinearity="relu", batch=8, seq_len=1,
    )  # fmt: skip
    params = {k: v.detach().double() for k, v in torch_module(spec).state_dict().items()}
    inputs = {k: v.double() for k, v in example_inputs(spec).items()}
    upstream = torch.randn(
        6, 8, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    found = kink_free_upstream(spec, params, inputs, torch.bfloat16, upstream)
    assert not inputs["input"].requires_grad  # the caller's tensors are left as they were

    x = {**inputs, "input": inputs["input"].clone().requires_grad_(True)}
    terms: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    h_n = one_step(spec, params, x, None, terms)["h_n"]
    arriving = torch.autograd.grad((h_n * found).sum(), [h for _, _, h in terms])
    eps = torch.finfo(torch.bfloat16).eps
    at_kink = [pre.abs() <= KINK_ROUNDING * eps * size for size, pre, _ in terms]
    assert sum(int(k.sum()) for k in at_kink) > 10  # the check has something to check
    for kink, total in zip(at_kink, arriving, strict=True):
        assert float(total[kink].abs().sum()) < 1e-12
    top = slice(4, 6)
    kept = ~torch.stack(at_kink)[top]
    assert torch.equal(found[top][kept], upstream[top][kept])


def test_a_cell_step_check_that_cannot_run_is_a_note_not_a_crash() -> None:
    """The relu Cell's step check calls the implementation again; when that call raises, the
    report says the check could not run, and no row can be inconclusive."""
    from torch import nn

    from rnninspect.commands.verify.verification import verify
    from rnninspect.core.impl import load_factory
    from rnninspect.core.options import VerifyOptions
    from rnninspect.model.spec import make_spec

    shifted = load_factory(f"{IMPLS}:RNNCellReluShifted")

    def factory(**kwargs: object) -> nn.Module:
        module = shifted(**kwargs)
        first = module.forward
        calls = []

        def once(*args: object) -> object:
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("called twice")
            return first(*args)

        module.forward = once
        return module

    spec = make_spec(cell="rnn_cell", input_size=32, hidden_size=128, nonlinearity="relu", batch=16)
    report = verify(spec, VerifyOptions(dtype="bfloat16", timing="off", impl=factory))
    assert report.verdict == "fail" and report.steps is None
    assert any("step-wise parity could not run (ImplementationFailed" in n for n in report.notes)


OVERFLOWING = (
    "nn.RNN(16, 128, nonlinearity='relu')", "--batch", "16", "--seq-len", "50", "--seed",
    "5630", "--dtype", "float16", "--weight-scale", "4",
)  # fmt: skip


def test_steps_beyond_the_dtypes_range_are_not_checked_and_the_overflow_is_inconclusive() -> None:
    """A relu RNN with 4x weights outgrows float16 halfway: the later steps start from states
    float16 cannot hold, so no kernel can take them. They are counted, not failed (before,
    torch's own module failed here); the steps that fit are checked, and a wrong kernel still
    fails on them."""
    code, doc = run_json(*OVERFLOWING)
    steps = doc["steps"]
    assert code == 1 and doc["verdict"] == "inconclusive" and isinstance(steps, dict)
    assert steps["steps"] > 0 and steps["out_of_range"] > 0
    assert steps["steps"] + steps["out_of_range"] == 50 and steps["backward_ok"] is True
    rows = doc["parity"]
    assert isinstance(rows, list)
    assert all(
        r["verdict"] == "inconclusive" and "this dtype's largest" in r["reason"] for r in rows
    )
    code, out, _ = run(*OVERFLOWING)
    assert "more steps not checked: the float64 reference's values there lie beyond" in " ".join(
        out.split()
    )

    code, doc = run_json(*OVERFLOWING, "--impl", f"{IMPLS}:RNNIgnoresBias")
    assert code == 1 and doc["verdict"] == "fail"


def test_when_no_step_fits_the_dtype_nothing_is_said_to_agree() -> None:
    code, doc = run_json(
        "nn.RNN(16, 128, num_layers=2, nonlinearity='relu', bidirectional=True)",
        "--batch", "16", "--seq-len", "50", "--seed", "5630", "--dtype", "float16",
        "--weight-scale", "3",
    )  # fmt: skip
    steps, rows = doc["steps"], doc["parity"]
    assert code == 1 and doc["verdict"] == "inconclusive"
    assert isinstance(steps, dict) and isinstance(rows, list)
    assert (steps["steps"], steps["out_of_range"]) == (0, 50)
    assert steps["forward_ok"] is None and steps["backward_ok"] is None
    assert all(row["steps_agree"] is None and row["noise_ratio"] == 1.0 for row in rows)


def test_a_step_is_allowed_ten_times_the_same_dtype_references_error_on_it() -> None:
    """A step through layers of large weights can amplify correct rounding past the tolerance:
    the reference in the same dtype then errs on the same step too. A step is wrong only
    beyond its tolerance and beyond 10x that reference's error there."""
    import math

    from rnninspect.commands.verify.steps import _beyond
    from rnninspect.core.parity import Comparison
    from rnninspect.reports.verify import StepParity, Worst

    def excess(value: float) -> Comparison:
        return Comparison(0.0, 0.0, value)

    assert _beyond(excess(0.9), excess(0.01)) == 0.9  # within tolerance
    assert _beyond(excess(5.0), excess(0.05)) == 5.0  # the reference is near-exact: wrong
    assert _beyond(excess(5.0), excess(0.6)) == 5.0 / 6.0  # amplified rounding: allowed
    assert _beyond(excess(5.0), excess(math.inf)) == 5.0  # no allowance from a non-finite side
    steps = StepParity(steps=3, backward=Worst(5.0, "step 1"), backward_beyond=5.0 / 6.0)
    assert steps.backward_ok and steps.amplified() == ["backward"]
    assert not StepParity(steps=3, forward=Worst(5.0, "step 1"), forward_beyond=5.0).forward_ok


def test_a_value_beyond_the_dtypes_largest_cannot_be_returned_and_is_not_failed() -> None:
    """A relu RNN with 3x weights in float16: the float64 gradient of h0 reaches about 1e5,
    beyond float16's 65504, so any float16 kernel returns inf or nan there. That is said,
    not failed; a non-finite value where float16 could have held the answer still fails."""
    from rnninspect.core.parity import Comparison, Evidence, Tolerance, judge

    _, doc = run_json(
        "nn.RNN(64, 16, num_layers=2, nonlinearity='relu')", "--batch", "3", "--seq-len",
        "50", "--seed", "4926", "--dtype", "float16", "--weight-scale", "3",
    )  # fmt: skip
    rows = {row["tensor"]: row for row in doc["parity"]}  # type: ignore[union-attr]
    assert rows["grad:h0"]["verdict"] == "inconclusive"
    assert "beyond 1/16 of this dtype's largest" in rows["grad:h0"]["reason"]

    exploded = Comparison(math.nan, math.nan, math.inf, exploded=True)
    tolerance = Tolerance(1e-2, 1e-2, "test")
    assert judge("grad:h0", exploded, tolerance).verdict == "fail"
    beyond = Evidence(expected_out_of_range=True, steps_agree=True)
    assert judge("grad:h0", exploded, tolerance, beyond).verdict == "inconclusive"
    wrong_step = Evidence(expected_out_of_range=True, steps_agree=False)
    assert judge("grad:h0", exploded, tolerance, wrong_step).verdict == "fail"


def test_in_a_chaotic_recurrence_the_noise_floor_takes_more_draws_before_failing() -> None:
    """A correct float16 LSTM with 4x weights: the first same-dtype reference run landed 0.7
    from float64 on a bias gradient where torch's module landed 10.4, while runs from inputs
    perturbed within rounding land 10 to 23 away. Drawn again, the floor explains the error; a
    reverse direction that is not reversed still lies far beyond every draw."""
    from rnninspect.commands.verify.noise import EXTRA_RUNS

    code, doc = run_json(
        "nn.LSTM(16, 32, num_layers=3, proj_size=16)", "--batch", "3", "--seq-len", "50",
        "--seed", "1405", "--dtype", "float16", "--weight-scale", "4",
    )  # fmt: skip
    rows = doc["parity"]
    assert isinstance(rows, list) and doc["verdict"] != "fail", [
        (row["tensor"], row["reason"]) for row in rows if row["verdict"] == "fail"
    ]
    code, doc = run_json(
        "nn.GRU(8, 16, num_layers=2, bidirectional=True)", "--seq-len", "30", "--dtype",
        "bfloat16", "--impl", f"{IMPLS}:GRUReverseNotReversed",
    )  # fmt: skip
    rows = doc["parity"]
    assert code == 1 and doc["verdict"] == "fail" and isinstance(rows, list)
    drawn = f"far beyond the noise floor (the largest of {1 + EXTRA_RUNS} runs)"
    assert any(drawn in row["reason"] for row in rows)


def test_perturbed_runs_of_a_calm_recurrence_stay_at_rounding() -> None:
    import torch

    from rnninspect.commands.verify.noise import perturbed_floors
    from rnninspect.core.build import example_inputs, torch_module, upstream_gradients
    from rnninspect.core.runs import reference_side, run_with_grads
    from rnninspect.model.spec import make_spec

    spec = make_spec(cell="gru", input_size=8, hidden_size=16, num_layers=2)
    cpu = torch.device("cpu")
    module, inputs = torch_module(spec), example_inputs(spec)
    upstream = upstream_gradients(spec, cpu)
    exact = run_with_grads(*reference_side(spec, module, inputs, cpu), upstream)
    floors = perturbed_floors(spec, module, inputs, upstream, cpu, torch.float32, exact)
    assert set(floors) == set(exact.rows())
    assert all(value is not None and 0 < value < 1e-4 for value in floors.values()), floors


def _rows(document: dict[str, object]) -> dict[str, dict[str, object]]:
    rows = document["parity"]
    assert isinstance(rows, list)
    return {row["tensor"]: row for row in rows}


def test_a_square_output_returned_transposed_is_said_to_be() -> None:
    """With L = N the shapes cannot show a (N, L, ...) output: the row says it matches the
    reference transposed (checked here on torch's module by this test's own code)."""
    import torch

    from tests.impls.broken import TransposedGRU

    torch.manual_seed(0)
    gru, wrong = torch.nn.GRU(4, 8), TransposedGRU(4, 8)
    wrong.load_state_dict(gru.state_dict())
    x = torch.randn(5, 5, 4)
    with torch.no_grad():
        assert torch.equal(wrong(x)[0].transpose(0, 1), gru(x)[0])
    code, doc = run_json(
        "nn.GRU(4, 8)", "--batch", "5", "--seq-len", "5", "--impl", f"{BROKEN}:TransposedGRU"
    )
    assert code == 1
    finding = str(_rows(doc)["output"]["finding"])
    assert "first two dimensions swapped" in finding and "(N, L, ...)" in finding


def test_a_fault_in_one_gates_bias_names_that_gate() -> None:
    """A forget-gate bias fault pointed the worst element at gate g; one step of the
    implementation is now set beside the reference's, and the gate whose shift explains it is
    named. torch's own module, and a fault in no single gate, name none."""
    code, doc = run_json("nn.LSTM(4, 8)", "--impl", f"{BROKEN}:ForgetBiasLSTM")
    notes = " ".join(doc["notes"])  # type: ignore[arg-type]
    assert code == 1 and "shift of gate f's pre-activation" in notes
    code, doc = run_json("nn.LSTM(4, 8)")
    assert code == 0 and not any("shift of gate" in n for n in doc["notes"])  # type: ignore[union-attr]


def test_packed_gradients_failing_for_short_sequences_say_which_samples() -> None:
    code, doc = run_json(
        "nn.LSTM(4, 8)", "--lengths", "5,3,2", "--impl", f"{BROKEN}:EarlyEndsDetachedLSTM"
    )
    assert code == 1
    finding = str(_rows(doc)["grad:h0"]["finding"])
    assert "samples 0 (length 5) pass; samples 1, 2 (lengths 3, 2) fail" in finding
    assert "only sequences shorter than the longest fail" in finding
