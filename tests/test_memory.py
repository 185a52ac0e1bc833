"""The memory estimate, the limit, and sizes as users write them."""

from __future__ import annotations

import pytest

from rnninspect.model import memory
from rnninspect.model.spec import make_spec


def test_estimate_counts_parameters_and_tensors_exactly() -> None:
    spec = make_spec(cell="lstm", input_size=10, hidden_size=20, batch=3, seq_len=5)
    estimate = memory.estimate(spec)
    assert estimate.parameters == 4 * (80 * 10 + 80 * 20 + 80 + 80)
    # input 5*3*10, h0 c0 h_n c_n 4 * 3*20, output 5*3*20
    assert estimate.tensors == 4 * (150 + 4 * 60 + 300)
    assert estimate.verify > estimate.shapes
    assert memory.estimate(spec, "float64").parameters == 2 * estimate.parameters


def test_available_memory_is_positive_and_bounded() -> None:
    import os

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < memory.available_memory() <= physical
    assert memory.default_limit() < memory.available_memory()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("8GiB", 8 * 1024**3),
        ("500MB", 500 * 10**6),
        ("2G", 2 * 1024**3),
        ("1.5 kib", 1536),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert memory.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1G", "lots", "5 parsecs", "1e9"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(memory.MemoryLimitError, match="--max-memory must be a positive size"):
        memory.parse_size(text)


def test_check_refuses_with_the_estimate() -> None:
    with pytest.raises(
        memory.MemoryLimitError,
        match=r"needs an estimated 2\.0 KiB, over the memory limit of 1\.0 KiB",
    ):
        memory.check(2048, 1024, "this")
    memory.check(1024, 1024, "this")


@pytest.mark.parametrize("command", ["shapes", "verify", "bench"])
@pytest.mark.parametrize("size", ["0.0001", "0.5B", "0"])
def test_a_limit_under_one_byte_is_refused_by_every_command(command: str, size: str) -> None:
    """shapes once took --max-memory 0.0001 as "limit 0 B" where verify refused it."""
    from click.testing import CliRunner

    from rnninspect.cli import main

    result = CliRunner().invoke(main, [command, "--max-memory", size])
    assert result.exit_code == 2 and result.stderr.startswith("Error: --max-memory must be")
