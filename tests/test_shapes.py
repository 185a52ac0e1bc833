"""The shape model against what torch really builds and produces."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from rnninspect import api
from rnninspect.api import inspect_shapes
from rnninspect.model.shapes import Dim, TensorShape, parameter_shapes, tensor_shapes, total_params
from rnninspect.model.spec import CellKind, RNNSpec, make_spec


@st.composite
def specs(draw: st.DrawFn) -> RNNSpec:
    """Any valid configuration, small enough to run in milliseconds."""
    cell = draw(st.sampled_from(list(CellKind)))
    hidden = draw(st.integers(1, 9))
    values: dict[str, object] = {
        "cell": cell,
        "input_size": draw(st.integers(1, 9)),
        "hidden_size": hidden,
        "bias": draw(st.booleans()),
        "unbatched": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }
    if not values["unbatched"]:
        values["batch"] = draw(st.integers(1, 4))
    if cell.family == "rnn":
        values["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if not cell.is_cell:
        values |= {
            "num_layers": draw(st.integers(1, 3)),
            "batch_first": draw(st.booleans()),
            "bidirectional": draw(st.booleans()),
            "seq_len": draw(st.integers(1, 6)),
        }
        if cell is CellKind.LSTM:
            values["proj_size"] = draw(st.integers(0, hidden - 1))
    return make_spec(**values)


def torch_shapes(
    spec: RNNSpec,
) -> tuple[dict[str, tuple[int, ...]], list[tuple[str, tuple[int, ...]]]]:
    """Shapes from torch alone, without any rnninspect code: the ground truth."""
    module = getattr(nn, spec.cell.torch_name)(**spec.constructor_kwargs())
    batch = () if spec.unbatched else (spec.batch,)
    if spec.cell.is_cell:
        x = torch.randn(*batch, spec.input_size)
        h = torch.randn(*batch, spec.hidden_size)
        if spec.cell is CellKind.LSTM_CELL:
            h1, c1 = module(x, (h, h.clone()))
            tensors = {"input": x, "h0": h, "c0": h, "h1": h1, "c1": c1}
        else:
            tensors = {"input": x, "h0": h, "h1": module(x, h)}
    else:
        time_batch = (*batch, spec.seq_len) if spec.batch_first else (spec.seq_len, *batch)
        x = torch.randn(*time_batch, spec.input_size)
        stack = spec.num_layers * (2 if spec.bidirectional else 1)
        h0 = torch.randn(stack, *batch, spec.proj_size or spec.hidden_size)
        if spec.cell is CellKind.LSTM:
            c0 = torch.randn(stack, *batch, spec.hidden_size)
            output, (h_n, c_n) = module(x, (h0, c0))
            tensors = {"input": x, "h0": h0, "c0": c0, "output": output, "h_n": h_n, "c_n": c_n}
        else:
            output, h_n = module(x, h0)
            tensors = {"input": x, "h0": h0, "output": output, "h_n": h_n}
    params = [(name, tuple(p.shape)) for name, p in module.named_parameters()]
    return {name: tuple(t.shape) for name, t in tensors.items()}, params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_shape_model_equals_torch(spec: RNNSpec) -> None:
    tensors, params = torch_shapes(spec)
    assert {t.name: t.shape for t in tensor_shapes(spec)} == tensors
    assert [t.name for t in tensor_shapes(spec)] == list(tensors)
    assert [(p.name, p.shape) for p in parameter_shapes(spec)] == params
    assert total_params(spec) == sum(torch.Size(shape).numel() for _, shape in params)


@settings(max_examples=40, deadline=None)
@given(specs())
def test_shapes_report_agrees_with_torch(spec: RNNSpec) -> None:
    report = inspect_shapes(spec)
    assert report.ok, report.mismatches
    tensors, params = torch_shapes(spec)
    assert {row.name: row.shape for row in report.tensors} == tensors
    assert [(row.name, row.shape) for row in report.parameters] == params


def test_dims_are_named_by_what_they_count() -> None:
    spec = make_spec(
        cell="lstm", num_layers=2, bidirectional=True, proj_size=5, batch=7, batch_first=True
    )
    dims = {t.name: [(d.symbol, d.size, d.meaning) for d in t.dims] for t in tensor_shapes(spec)}
    assert dims["input"] == [("N", 7, "batch"), ("L", 5, "seq_len"), ("H_in", 10, "input_size")]
    assert dims["h0"] == [
        ("D*num_layers", 4, "num_layers*num_directions"),
        ("N", 7, "batch"),
        ("H_out", 5, "proj_size"),
    ]
    assert dims["c_n"][2] == ("H_cell", 20, "hidden_size")
    assert dims["output"][2] == ("D*H_out", 10, "num_directions*proj_size")


def test_gate_split_is_explained() -> None:
    params = {p.name: p for p in parameter_shapes(make_spec(cell="lstm", num_layers=2))}
    assert params["weight_ih_l0"].shape == (80, 10)
    assert params["weight_ih_l0"].rows == "i,f,g,o × 20"
    assert params["weight_ih_l0"].cols == "input 10"
    assert params["weight_ih_l1"].cols == "layer 0 output 20"
    gru = {p.name: p for p in parameter_shapes(make_spec(cell="gru_cell", hidden_size=8))}
    assert gru["weight_hh"].rows == "r,z,n × 8"


def test_a_disagreement_is_reported_with_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    dims = (Dim(5, "L", "seq_len"), Dim(99, "N", "batch"), Dim(10, "H_in", "input_size"))
    from rnninspect.commands import shapes as engine

    monkeypatch.setattr(engine, "tensor_shapes", lambda spec: [TensorShape("input", dims)])
    report = api.inspect_shapes(make_spec())
    assert not report.ok
    assert "tensor input: shape model says [5, 99, 10], torch built [5, 3, 10]" in report.mismatches
    assert "tensor h0: shape model says absent, torch built [1, 3, 20]" in report.mismatches


@pytest.mark.parametrize(
    "settings",
    [
        {"cell": "lstm", "num_layers": 2, "bidirectional": True, "proj_size": 3},
        {"cell": "gru", "batch_first": True, "lengths": "4,2,3"},
        {"cell": "lstm", "bidirectional": True, "lengths": "5,3,2", "batch_first": True},
        {"cell": "rnn", "unbatched": True},
        {"cell": "lstm_cell", "batch": 2},
        {"cell": "gru_cell", "unbatched": True},
    ],
)
def test_meta_shapes_are_the_shapes_of_a_real_run(settings: dict[str, object]) -> None:
    import torch

    from rnninspect.core.build import example_inputs, run_module, torch_module
    from rnninspect.model.spec import make_spec

    spec = make_spec(input_size=4, hidden_size=6, **settings)
    shapes = {}
    for device in ("cpu", "meta"):
        with torch.no_grad():
            inputs = example_inputs(spec, device)
            produced = run_module(torch_module(spec, device), spec, inputs, keep_packed=True)
        shapes[device] = {
            name: tuple(value.shape) for name, value in {**inputs, **produced}.items()
        }
    assert shapes["meta"] == shapes["cpu"]


def test_a_long_sequence_on_the_meta_device_runs_torch_at_two_short_lengths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """shapes of nn.LSTM(10, 65536) at L=100,000 ran torch's meta forward one step at a time
    for minutes. It now runs torch at L=2 and L=3 only, says so, and gives the shape model's
    shapes at 100,000, checked at those two lengths."""
    import rnninspect.api as api
    from rnninspect.commands import shapes as engine
    from rnninspect.model.spec import make_spec

    lengths_run: list[int] = []
    forward = engine._forward_shapes

    def recorded(spec: object, device: str) -> object:
        lengths_run.append(spec.seq_len)  # type: ignore[attr-defined]
        return forward(spec, device)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_forward_shapes", recorded)
    spec = make_spec(cell="lstm", input_size=10, hidden_size=65536, seq_len=100_000)
    report = api.inspect_shapes(spec)
    assert lengths_run == [2, 3] and report.checked_at == (2, 3) and report.ok
    shapes = {row.name: row.shape for row in report.tensors}
    assert shapes["input"] == (100_000, 3, 10) and shapes["output"] == (100_000, 3, 65536)
    assert report.to_dict()["checked_at_seq_len"] == [2, 3]
    short = api.inspect_shapes(make_spec(cell="lstm", input_size=10, hidden_size=65536))
    assert short.checked_at is None  # 5 steps: torch's own forward, at the length asked for


def test_explain_checks_memory_before_it_runs_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    import rnninspect.api as api
    from rnninspect.commands import shapes as engine
    from rnninspect.model.memory import MemoryLimitError
    from rnninspect.model.spec import make_spec

    def never(*args: object, **kwargs: object) -> object:
        raise AssertionError("explain ran a forward pass before checking memory")

    monkeypatch.setattr(engine, "inspect_shapes", never)
    with pytest.raises(MemoryLimitError):
        api.explain(make_spec(cell="lstm", input_size=10, hidden_size=65536, seq_len=100_000))
