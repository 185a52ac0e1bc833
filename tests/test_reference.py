"""The manual reference against torch's modules, over every option, through verify."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnninspect.commands.verify.verification import verify
from rnninspect.core.build import example_inputs, run_module, torch_module
from rnninspect.core.options import VerifyOptions
from rnninspect.model.spec import CellKind, RNNSpec, make_spec
from rnninspect.reference import reference_forward


def grid() -> list[tuple[RNNSpec, bool]]:
    """Every cell x layers 1..3 x directions x batch_first x bias x relu/proj x unbatched x
    zero/non-zero state; the Cells take only the options they have."""
    cases = []
    for cell in CellKind:
        both = (False, True)
        shapes = [(1, False, False)] if cell.is_cell else itertools.product((1, 2, 3), both, both)
        for (
            layers,
            bidirectional,
            batch_first,
        ), bias, variant, unbatched, zero in itertools.product(shapes, both, both, both, both):
            values: dict[str, object] = {
                "cell": cell,
                "input_size": 3,
                "hidden_size": 5,
                "bias": bias,
                "unbatched": unbatched,
                "seq_len": 4,
            }
            if cell.is_cell:
                del values["seq_len"]
            else:
                values |= {
                    "num_layers": layers,
                    "bidirectional": bidirectional,
                    "batch_first": batch_first,
                }
            if variant and cell.family == "rnn":
                values["nonlinearity"] = "relu"
            elif variant and cell is CellKind.LSTM:
                values["proj_size"] = 2
            elif variant:
                continue  # GRU and the LSTM/GRU Cells have no such variant
            cases.append((make_spec(**values), zero))
    return cases


GRID = grid()


def _id(case: tuple[RNNSpec, bool]) -> str:
    spec, zero = case
    return (
        spec.to_spec_string() + (" unbatched" if spec.unbatched else "") + (" h0=0" if zero else "")
    )


@pytest.mark.parametrize("case", GRID, ids=[_id(c) for c in GRID])
def test_reference_matches_torch_in_float64(case: tuple[RNNSpec, bool]) -> None:
    spec, zero = case
    report = verify(spec, VerifyOptions(dtype="float64", zero_state=zero, timing=False))
    assert report.ok, [row.to_dict() for row in report.rows if not row.ok]
    assert max(row.comparison.max_abs_err for row in report.rows) < 1e-10
    names = {row.tensor for row in report.rows}
    module = torch_module(spec)
    assert {f"grad:{name}" for name, _ in module.named_parameters()} <= names
    assert "grad:input" in names and "grad:h0" in names


@pytest.mark.parametrize("case", GRID, ids=[_id(c) for c in GRID])
def test_torch_module_passes_in_float32(case: tuple[RNNSpec, bool]) -> None:
    spec, zero = case
    report = verify(spec, VerifyOptions(dtype="float32", zero_state=zero, timing=False))
    assert report.verdict == "pass", [row.to_dict() for row in report.rows if not row.ok]


def test_grid_covers_every_option() -> None:
    specs = [spec for spec, _ in GRID]
    assert {spec.cell for spec in specs} == set(CellKind)
    assert {spec.num_layers for spec in specs} == {1, 2, 3}
    for flag in ("bidirectional", "batch_first", "bias", "unbatched"):
        assert {getattr(spec, flag) for spec in specs} == {False, True}
    assert any(spec.proj_size for spec in specs)
    assert any(spec.nonlinearity == "relu" and not spec.cell.is_cell for spec in specs)
    assert any(spec.nonlinearity == "relu" and spec.cell.is_cell for spec in specs)


def test_reverse_direction_reads_the_sequence_backwards() -> None:
    """The reverse half of output at step 0 is the reverse direction's final state."""
    spec = make_spec(cell="gru", bidirectional=True, seq_len=6, input_size=3, hidden_size=4)
    module = torch_module(spec, dtype=torch.float64)
    inputs = example_inputs(spec, dtype=torch.float64)
    ours = reference_forward(spec, dict(module.named_parameters()), inputs)
    assert torch.equal(ours["output"][0, :, 4:], ours["h_n"][1])
    assert torch.equal(ours["output"][-1, :, :4], ours["h_n"][0])
    torch.testing.assert_close(ours["output"], run_module(module, spec, inputs)["output"])


def test_reference_never_calls_torch_rnn_code() -> None:
    import inspect

    import rnninspect.reference.cells as cells
    import rnninspect.reference.recurrence as recurrence

    source = inspect.getsource(cells) + inspect.getsource(recurrence)
    for forbidden in (
        "nn.RNN",
        "nn.LSTM",
        "nn.GRU",
        "_VF",
        "rnn_tanh",
        "lstm_cell",
        "gru_cell",
        "functional",
    ):
        assert forbidden not in source


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("lengths", [None, (7, 4, 1)])
def test_the_loop_over_views_gives_the_indexing_loops_results_bit_for_bit(
    cell: str, lengths: tuple[int, ...] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time loop takes its steps from ``gi.unbind(0)`` (linear in L under autograd); the
    outputs and every gradient are those of indexing ``gi[t]`` in the loop, to the last bit."""
    from rnninspect.reference import recurrence

    spec = make_spec(
        cell=cell,
        input_size=3,
        hidden_size=5,
        num_layers=2,
        bidirectional=True,
        seq_len=7,
        lengths=lengths,
    )
    module = torch_module(spec).double()

    def run() -> list[torch.Tensor]:
        params = {k: v.detach().clone().requires_grad_(True) for k, v in module.named_parameters()}
        inputs = {k: v.double().requires_grad_(True) for k, v in example_inputs(spec).items()}
        results = reference_forward(spec, params, inputs)
        torch.stack([v.sum() * (i + 1) for i, v in enumerate(results.values())]).sum().backward()
        grads = [v.grad for v in [*inputs.values(), *params.values()]]
        return [*results.values(), *(g for g in grads if g is not None)]

    by_views = run()

    class Indexed:  # what project_input returned before: unbind() gives back the tensor itself
        def __init__(self, tensor: torch.Tensor) -> None:
            self.tensor = tensor

        def unbind(self, dim: int) -> torch.Tensor:
            return self.tensor

    original = recurrence.DirectionWeights.project_input
    monkeypatch.setattr(
        recurrence.DirectionWeights, "project_input", lambda w, x: Indexed(original(w, x))
    )
    by_index = run()
    assert len(by_views) == len(by_index)
    for a, b in zip(by_views, by_index, strict=True):
        assert torch.equal(a, b)
