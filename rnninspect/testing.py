"""Parity checks for your own test suite: assert that an implementation matches torch.

    from rnninspect.testing import assert_matches_torch

    def test_my_lstm_matches_torch():
        assert_matches_torch(["nn.LSTM(8, 16)", "nn.LSTM(8, 16, num_layers=2)"], impl=MyLSTM)

A failure raises ``AssertionError`` whose message is the parity table of every configuration
that did not pass, as ``rnninspect verify`` prints it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rnninspect.model.spec import RNNSpec
from rnninspect.model.verdict import Verdict
from rnninspect.reports.verify import VerifyReport

__all__ = ["assert_matches_torch"]


def assert_matches_torch(
    specs: str | RNNSpec | Iterable[str | RNNSpec] | None = None,
    impl: Any = None,
    *,
    allow_inconclusive: bool = False,
    **settings: Any,
) -> list[VerifyReport]:
    """Verify ``impl`` (a factory called with torch's constructor arguments, or a
    ``"path.py:Name"`` target; torch's own module when None) against the reference for each
    SPEC, and fail with the parity tables of those that do not pass.

    ``settings`` are as for :func:`rnninspect.verify`: CONFIG values and verify's options.
    Returns the reports, for further checks.
    """
    from rich.console import Console

    from rnninspect.api import verify
    from rnninspect.render.verify import verify_table

    if specs is None or isinstance(specs, str | RNNSpec):
        specs = [specs]  # type: ignore[list-item]
    reports = [verify(spec, impl=impl, **settings) for spec in specs]
    failing = [r for r in reports if not Verdict.accepted(r.verdict, allow_inconclusive)]
    if failing:
        out = io.StringIO()
        console = Console(file=out, width=100, no_color=True, highlight=False)
        for report in failing:
            console.print(verify_table(report))
        count = f"{len(failing)} of {len(reports)} configurations do not match torch"
        raise AssertionError(f"{count}:\n\n{out.getvalue()}")
    return reports
