"""bench: FLOP counts by hand, timings present and consistent, sweeps, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from clirun import invoke

from rnninspect.cli import main
from rnninspect.model.shapes import flop_count
from rnninspect.model.spec import make_spec
from rnninspect.reports.bench import growth_exponent


def run(*args: str) -> tuple[int, str, str]:
    done = invoke("bench", *args, "--min-time", "0.02")
    return done.code, done.out, done.err


# --- FLOPs, hand-computed -------------------------------------------------------------------


def test_lstm_cell_multiply_adds_are_448_not_896() -> None:
    # 4 gates x 8 hidden x (6 inputs + 8 hidden): torchinfo reports twice this
    count = flop_count(
        make_spec(cell="lstm_cell", input_size=6, hidden_size=8, batch=1, bias=False)
    )
    assert count.macs == 4 * 8 * (6 + 8) == 448
    assert count.elementwise == 13 * 8
    assert count.flops == 2 * 448 + 104


def test_rnn_with_bias() -> None:
    count = flop_count(make_spec(cell="rnn", input_size=3, hidden_size=4, batch=2, seq_len=5))
    # per sample and step: 4*(3+4) MACs; bias adds 2*4; tanh and gate add 2*4
    assert count.macs == 2 * 5 * 4 * (3 + 4)
    assert count.elementwise == 2 * 5 * (2 * 4 + 2 * 4)


def test_gru_two_layers_bidirectional() -> None:
    spec = make_spec(
        cell="gru",
        input_size=3,
        hidden_size=4,
        num_layers=2,
        bidirectional=True,
        batch=2,
        seq_len=5,
        bias=False,
    )
    count = flop_count(spec)
    layer0 = 2 * 12 * (3 + 4)  # two directions, 3 gates x 4 hidden, by input 3 + hidden 4
    layer1 = 2 * 12 * (8 + 4)  # layer 1 reads both directions: 2*4 = 8
    assert count.macs == 2 * 5 * (layer0 + layer1)
    assert count.elementwise == 2 * 5 * 2 * 2 * (11 * 4)


def test_lstm_projection_is_counted() -> None:
    spec = make_spec(
        cell="lstm", input_size=3, hidden_size=4, proj_size=2, batch=1, seq_len=1, bias=False
    )
    # gates 16 rows by (3 inputs + 2 projected h) plus the projection 2 x 4
    assert flop_count(spec).macs == 16 * (3 + 2) + 2 * 4


def test_unbatched_counts_one_sequence() -> None:
    batched = flop_count(make_spec(cell="gru", batch=1))
    assert flop_count(make_spec(cell="gru", unbatched=True)) == batched


# --- the command ----------------------------------------------------------------------------


def test_bench_json_has_the_contract_keys() -> None:
    code, out, err = run("nn.LSTM(8, 16)", "--backward", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    for side in ("module", "reference", "module_backward", "reference_backward"):
        timing = doc["timing"][side]
        assert timing["median_ms"] > 0 and timing["iqr_ms"] >= 0 and timing["runs"] >= 1
    assert doc["flops"] == flop_count(make_spec(cell="lstm", input_size=8, hidden_size=16)).flops
    assert doc["ratio"] == pytest.approx(
        doc["timing"]["reference"]["median_ms"] / doc["timing"]["module"]["median_ms"]
    )
    tokens = 3 * 5
    expected = tokens / (doc["timing"]["module"]["median_ms"] / 1000)
    assert doc["tokens_per_s"]["module"] == pytest.approx(expected)
    assert doc["threads"] >= 1 and doc["device"] == "cpu"
    assert doc["memory"]["estimate_forward_bytes"] > 0


def test_bench_table_and_peak() -> None:
    code, out, _ = run("nn.GRU(8, 16)", "--peak-gflops", "50")
    assert code == 0
    assert "median ms" in out and "Reference/module, forward:" in out
    assert "Of the stated peak 50 GFLOP/s: module" in out


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_sweep_renders_in_every_format(fmt: str) -> None:
    code, out, _ = run(
        "--cell", "gru", "--hidden-size", "8", "--sweep", "seq_len=2,4,8", "--format", fmt
    )
    assert code == 0
    if fmt == "json":
        sweep = json.loads(out)["sweep"]
        assert sweep["name"] == "seq_len" and sweep["values"] == [2, 4, 8]
        assert [p["config"]["seq_len"] for p in sweep["points"]] == [2, 4, 8]
        assert set(sweep["exponent"]) == {"module", "reference"}
    elif fmt == "markdown":
        assert "#### Sweep of seq_len (forward)" in out and "| 8 |" in out
        assert "Fitted growth, time ∝ seq_len^k" in out
    else:
        assert "Sweep of seq_len (forward)" in out and "█" in out
        assert "Fitted growth, time ∝ seq_len^k: module" in out


def test_growth_exponent_recovers_a_power_law() -> None:
    values = [10, 20, 40, 80]
    assert growth_exponent(values, [3.0 * v for v in values]) == pytest.approx(1.0)
    assert growth_exponent(values, [0.5 * v**2 for v in values]) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "depth=1,2"], "--sweep must be NAME=V1,V2,... with NAME one of"),
        (["--sweep", "seq_len"], "--sweep must be NAME=V1,V2,..."),
        (["--sweep", "seq_len=5"], "give at least two different values"),
        (["--sweep", "seq_len=5,5"], "give at least two different values"),
        (["--sweep", "seq_len=5,x"], "values must be integers"),
        (["--sweep", "hidden_size=0,4"], "hidden_size (--hidden-size) must be an integer >= 1"),
        (["--cell", "gru_cell", "--sweep", "seq_len=1,2"], "takes one step of one layer"),
        (["--min-time", "0"], "--min-time must be a positive number of seconds"),
        (["--min-time", "-1"], "--min-time must be a positive number of seconds"),
        (["--peak-gflops", "0"], "--peak-gflops must be a positive number"),
        (["--peak-gflops", "lots"], "'lots' is not a valid float"),
        (["--device", "gpu"], "--device must be cpu, cuda, cuda:N, mps or auto"),
    ],
)
def test_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_gru_and_rnn_cells() -> None:
    gru = flop_count(make_spec(cell="gru_cell", input_size=5, hidden_size=3, batch=2))
    assert gru.macs == 2 * 9 * (5 + 3)  # 3 gates x 3 hidden, by 5 inputs + 3 hidden, 2 samples
    assert gru.elementwise == 2 * (2 * 9 + 11 * 3)  # bias adds 2 x 9, element-wise 11 x 3
    rnn = flop_count(make_spec(cell="rnn_cell", input_size=5, hidden_size=3, batch=2, bias=False))
    assert (rnn.macs, rnn.elementwise) == (2 * 3 * (5 + 3), 2 * 2 * 3)


def test_a_slow_call_is_timed_in_enough_blocks_for_a_spread() -> None:
    """A call slower than --min-time would fit one block, whose IQR is a meaningless 0: more
    blocks are timed, so every timing has a spread."""
    import time

    from rnninspect.core.timing import MIN_BLOCKS, measure

    timing = measure(lambda: time.sleep(0.005), min_run_time=1e-6)
    assert timing.blocks == MIN_BLOCKS and timing.iqr_ms is not None and timing.iqr_ms > 0
    assert timing.runs >= MIN_BLOCKS
    timing = measure(lambda: None, min_run_time=0.05)
    assert timing.blocks >= MIN_BLOCKS and timing.iqr_ms is not None


def test_quick_timing_blocks_fast_calls_and_synchronizes_around_each_block() -> None:
    """A call far under a millisecond is timed in blocks of several, the device synchronised
    around each block rather than around each call; a slow call is a block of its own."""
    import time

    from rnninspect.core.timing import MIN_BLOCKS, measure_quickly, ratio_rounds

    calls, syncs = [0], [0]

    def fast() -> None:
        calls[0] += 1

    def synchronize() -> None:
        syncs[0] += 1

    timing = measure_quickly(fast, 0.01, synchronize)
    assert timing.blocks >= MIN_BLOCKS and timing.runs > 10 * timing.blocks
    assert calls[0] == timing.runs + 2  # the warm-up and the call that sizes the blocks
    assert syncs[0] == 2 * (timing.blocks + 2)
    slow = measure_quickly(lambda: time.sleep(0.002), 0.0)
    assert (slow.blocks, slow.runs) == (MIN_BLOCKS, MIN_BLOCKS) and slow.median_ms >= 2.0

    rounds = ratio_rounds(lambda: time.sleep(0.002), fast, 0.01, synchronize=synchronize)
    assert rounds.rounds == 5 and rounds.low > 1.0  # the sleeping side is the slower


def test_a_quick_timing_takes_a_slow_call_already_made_instead_of_making_it_again() -> None:
    """verify's parity runs are forward+backward calls of the sides it times, and the first of
    each (cold): one that alone outlasts its share of the quick timing is timed once more, warm,
    where it took at most half a second; a slower one is reported as that call, marked cold
    (1 run, no spread)."""
    import torch

    from rnninspect.core.timing import Timing, time_sides

    def forward(x: object) -> dict[str, torch.Tensor]:
        return {"output": torch.ones(2, requires_grad=True) * 2}

    sides = {"module": (forward, {}, {"input": torch.ones(2)})}
    upstream = {"output": torch.ones(2)}
    timing = time_sides(
        sides, upstream, 0.01, backward=True, quick=True, already={"module_backward": 0.6}
    )
    assert timing["module_backward"] == Timing(600.0, None, 1, 1, cold=True)
    assert timing["module_backward"].unstable and timing["module_backward"].to_dict()["cold"]
    assert timing["module"].runs > 1  # timed as before: it was not among the calls made
    timing = time_sides(
        sides, upstream, 0.01, backward=True, quick=True, already={"module_backward": 0.3}
    )
    warm = timing["module_backward"]  # one more call, warm, instead of the cold 300 ms
    assert (warm.runs, warm.cold) == (1, False) and warm.median_ms < 100
    timing = time_sides(
        sides, upstream, 0.01, backward=True, quick=True, already={"module_backward": 0.001}
    )
    assert timing["module_backward"].runs > 1  # a call shorter than its share: timed anew


def _points(ratios: list[float], spread: float) -> list[object]:
    from types import SimpleNamespace

    from rnninspect.core.timing import Timing

    timing = Timing(median_ms=1.0, iqr_ms=spread, runs=10, blocks=10)
    return [
        SimpleNamespace(
            report=SimpleNamespace(ratio=r, timing={"module": timing, "reference": timing})
        )
        for r in ratios
    ]


def test_a_sweep_whose_ratio_zigzags_beyond_its_spread_is_warned_about() -> None:
    from rnninspect.commands.bench import unsteady_ratio

    assert unsteady_ratio(_points([1.5, 2.0, 2.6, 3.1], 0.01)) is None  # a trend
    warning = unsteady_ratio(_points([1.5, 3.0, 1.4, 2.9], 0.01))  # type: ignore[arg-type]
    assert warning is not None and "1.40× to 3.00×" in warning and "--min-time" in warning
    assert unsteady_ratio(_points([1.5, 1.6, 1.5, 1.6], 0.05)) is None  # within the spread


IMPLS = Path(__file__).parent / "impls" / "manual.py"


def test_bench_times_implementations_beside_the_module() -> None:
    right, slowed = f"{IMPLS}:LSTM", f"{IMPLS}:LSTMSlowed"
    args = ("nn.LSTM(4, 8)", "--impl", right, "--impl", slowed)
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert {f"impl:{right}", f"impl:{slowed}"} <= set(doc["timing"])
    ratios = doc["impl_ratio"]
    assert set(ratios) == {f"impl:{right}", f"impl:{slowed}"}
    slow = ratios[f"impl:{slowed}"]
    assert slow["rounds"] == 5 and slow["low"] > 1  # 5 ms a call: slower in every round
    assert slow["median"] > ratios[f"impl:{right}"]["median"]
    assert doc["gflops_per_s"][f"impl:{slowed}"] < doc["gflops_per_s"]["module"]
    code, out, _ = run(*args, "--backward")
    assert code == 0 and "LSTMSlowed/module, forward:" in " ".join(out.split())
    assert "LSTMSlowed/module, fwd+bwd:" in " ".join(out.split())


def test_bench_impl_failures_are_clear() -> None:
    code, _, err = run("nn.LSTM(4, 8)", "--impl", f"{IMPLS}:NotAModule")
    assert code == 2 and "not a torch.nn.Module" in err
    code, _, err = run("nn.GRU(4, 8)", "--impl", f"{IMPLS}:LSTM")
    assert code == 2 and "--impl" in err
