"""Shared test helpers: the CLI runner, Keras where it is installed, and the CUDA marker's
skip."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from clirun import Invocation, invoke
from hypothesis import settings

# rnninspect runs Keras on the torch backend; a test that imports Keras first must too.
os.environ.setdefault("KERAS_BACKEND", "torch")

# Property tests: 40 examples each in the README's run, 300 in CI's (HYPOTHESIS_PROFILE=ci).
settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli() -> Callable[..., Invocation]:
    """``cli("verify", SPEC, ...)``: the command run in this process (tests/clirun.py)."""
    return invoke


@pytest.fixture(scope="session")
def keras() -> Any:
    """Keras on the torch backend, as rnninspect loads it; the test is skipped without it
    (``.ci/run`` fails on such a skip, since CI installs the extra)."""
    from rnninspect.commands.keras.mapping import import_keras
    from rnninspect.core.devices import Unavailable

    try:
        return import_keras()
    except Unavailable as exc:
        pytest.skip(f"Keras is not installed here: {exc}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; torch.cuda.is_available() is false")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--overwrite-golden",
        action="store_true",
        help="write the golden files of tests/test_golden.py anew from what the views print",
    )
