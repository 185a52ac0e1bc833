"""Timings on a loaded machine say so: the spread flag, the cold-call mark, and the load that
other processes put on this process's cores, measured from /proc while bench runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnninspect.cli import main
from rnninspect.core.load import MachineLoad
from rnninspect.core.timing import Timing, measure_quickly
from rnninspect.render.common import stability_line

#: One core kept busy for at most 60 s, whatever happens to the test that started it.
SPIN = "import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass\n"


def test_a_spread_over_a_tenth_of_the_median_is_unstable() -> None:
    assert not Timing(10.0, 1.0, 30, 30).unstable  # IQR 10% of the median: at the line
    assert Timing(10.0, 1.01, 30, 30).unstable
    assert not Timing(10.0, None, 1, 1).unstable  # one warm call: no spread to judge
    cold = Timing(10.0, None, 1, 1, cold=True)
    assert cold.unstable and cold.to_dict()["unstable"] is True


def test_a_slow_first_call_is_timed_again_warm_or_marked_cold() -> None:
    """verify's quick line once printed a first call (76.7 ms) where a warm one took 1.6 ms."""
    calls: list[float] = []

    def first_slow(first: float) -> object:
        def call() -> None:
            time.sleep(first if not calls else 0.001)
            calls.append(1.0)

        return call

    warm = measure_quickly(first_slow(0.05), 0.005, min_blocks=1)
    assert (warm.runs, warm.cold) == (1, False) and warm.median_ms < 25
    calls.clear()
    cold = measure_quickly(first_slow(0.6), 0.005, min_blocks=1)
    assert cold.cold and cold.median_ms >= 600 and len(calls) == 1


def _machine(others: float | None, threads: int = 2) -> MachineLoad:
    return MachineLoad(
        wall_seconds=2.0,
        cores=2,
        threads=threads,
        others_cpu_seconds=None if others is None else others * 2.0,
        load_average=(0.2, 0.2, 0.2),
        omp_wait_policy=None,
    )


def test_the_cause_and_the_remedy_are_named() -> None:
    loaded = stability_line(["module"], 4, _machine(1.4))
    assert loaded is not None and loaded.startswith("UNSTABLE: 1 of 4 timings (module)")
    assert "other processes kept 1.4 of the 2 cores busy" in loaded
    assert "--threads 1" in loaded and "OMP_WAIT_POLICY=PASSIVE" in loaded
    quiet = stability_line(["module"], 4, _machine(0.1))
    assert quiet is not None and "the machine looked quiet" in quiet and "--min-time" in quiet
    assert stability_line([], 4, _machine(0.1)) is None  # stable and quiet: nothing to say
    busy = stability_line([], 4, _machine(1.4, threads=1))
    assert busy is not None and busy.startswith("Timings may be slow: the machine was loaded")
    assert "--threads 1" not in busy  # already one thread


def _bench(*args: str) -> dict[str, object]:
    command = ["bench", "nn.GRU(32, 32)", "--min-time", "0.2", "--format", "json", *args]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="measures from /proc/stat")
def test_bench_measures_the_load_other_processes_put_on_its_cores() -> None:
    """Quiet, then with two processes spinning on this machine's cores: the second run's JSON
    says the machine was loaded, by how much, and what to do; every timing carries its flag."""
    quiet = _bench()
    machine = quiet["machine"]
    assert isinstance(machine, dict) and machine["others_busy_cores"] is not None
    assert machine["omp_wait_policy"] is None or isinstance(machine["omp_wait_policy"], str)
    timing = quiet["timing"]
    assert isinstance(timing, dict)
    assert all(isinstance(t["unstable"], bool) for t in timing.values())

    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(2)]
    try:
        time.sleep(0.2)
        loaded = _bench()
        text = CliRunner().invoke(main, ["bench", "nn.GRU(32, 32)", "--min-time", "0.2"]).stdout
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    busy = loaded["machine"]
    assert isinstance(busy, dict) and busy["busy"] is True
    # two spinners against bench's own threads on this machine's cores keep at least most of
    # one core busy whatever else runs; the quiet run saw less
    assert busy["others_busy_cores"] >= 0.75
    assert busy["others_busy_cores"] > machine["others_busy_cores"]
    flat = " ".join(text.split())
    assert "the machine was loaded: other processes kept" in flat and "--threads 1" in flat
