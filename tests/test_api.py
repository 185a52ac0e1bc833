"""The Python API and the pytest helper, used the way a team would in its own tests."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import rnninspect
from rnninspect.testing import assert_matches_torch

IMPLS = Path(__file__).parent / "impls" / "manual.py"


def manual() -> ModuleType:
    spec = importlib.util.spec_from_file_location("manual_impls", IMPLS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_is_light() -> None:
    probe = "import sys, rnninspect; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_verify_returns_the_report_the_cli_renders() -> None:
    report = rnninspect.verify("nn.GRU(4, 8)", hidden_size=6, batch_first=True)
    assert report.verdict == "pass" and report.ok
    assert (report.spec.hidden_size, report.spec.batch_first) == (6, True)
    assert report.to_dict()["parity"][0]["tensor"] == "output"
    assert report.timing == {}  # the API does not time unless asked


def test_verify_takes_a_spec_object_and_options() -> None:
    spec = rnninspect.make_spec(cell="lstm", input_size=4, hidden_size=8)
    report = rnninspect.verify(spec, dtype="float64", zero_state=True)
    assert report.dtype == "float64" and report.zero_state
    assert max(row.comparison.max_abs_err for row in report.rows) < 1e-10


def test_helper_passes_a_correct_implementation_over_several_specs() -> None:
    impls = manual()
    reports = assert_matches_torch(
        ["nn.LSTM(4, 8)", "nn.LSTM(4, 8, num_layers=2, bidirectional=True)"], impl=impls.LSTM
    )
    assert [report.verdict for report in reports] == ["pass", "pass"]
    assert assert_matches_torch("nn.GRU(4, 8)")[0].impl is None  # torch's own module


def test_helper_fails_a_wrong_implementation_with_the_parity_table() -> None:
    impls = manual()
    with pytest.raises(AssertionError) as failure:
        assert_matches_torch(
            ["nn.GRU(4, 8)", "nn.GRU(4, 8, num_layers=2)"], impl=impls.GRUResetBeforeProduct
        )
    message = str(failure.value)
    assert message.startswith("2 of 2 configurations do not match torch:")
    assert "output" in message and "fail" in message and "max abs" in message
    assert "\x1b[" not in message


def test_helper_takes_a_target_string() -> None:
    assert_matches_torch("nn.RNNCell(4, 8)", impl=f"{IMPLS}:RNNCell")


@pytest.mark.parametrize("target", ["file", "factory"])
def test_an_implementation_runs_after_parallel_torch_work_in_the_same_process(
    target: str,
) -> None:
    """A test suite has run parallel torch ops before it verifies its kernel. GNU OpenMP cannot
    cross a fork, and a child forked from this process hung in its first parallel region; the
    child on several threads now comes from a fork server. A hang would be a timeout, not a
    stalled CI."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        square = torch.randn(600, 600)
        square @ square  # OpenMP's threads now exist in this process
        impl = f"{IMPLS}:LSTM" if target == "file" else manual().LSTM
        report = rnninspect.verify("nn.LSTM(32, 32)", impl=impl, threads=2, timeout=120)
    finally:
        torch.set_num_threads(before)
    assert report.ok, report.verdict
    assert report.threads == (2 if target == "file" else 1)  # a factory of a test file's own


def test_the_package_exports_one_function_per_command() -> None:
    from rnninspect import api

    for name in rnninspect.COMMANDS:
        assert getattr(rnninspect, name) is getattr(api, name), name
    report = rnninspect.bench("nn.GRU(4, 8)", min_time=0.01)
    assert report.timing["module"].median_ms > 0
    assert rnninspect.explain(rnninspect.make_spec(cell="gru")).ok
