"""ONNX's LSTM, GRU and RNN in the reference (rnninspect/reference/onnx.py), against values
computed by hand from the operator docs' equations, attribute by attribute, with sizes of one
so that every number can be followed on paper; and torch's modules as one configuration of it,
agreeing with the torch reference bit for bit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnninspect.base.errors import SpecError
from rnninspect.core.build import example_inputs, torch_module
from rnninspect.model.operator import RecurrentOp, op_from_attributes
from rnninspect.model.spec import make_spec
from rnninspect.reference import reference_forward
from rnninspect.reference.onnx import onnx_forward
from rnninspect.reference.onnx_torch import forward_as_onnx


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def t(*values: float, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def run(node: RecurrentOp, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    return onnx_forward(node, inputs)


# ------------------------------------------------------------------ LSTM, one unit, one step
# W rows in ONNX's order i, o, f, c; x = 1, so each gate's pre-activation is its weight (+ R h0)
W_LSTM = t(0.5, -0.25, 1.5, 0.75, shape=(1, 4, 1))
R_LSTM = t(0.1, 0.2, 0.3, 0.4, shape=(1, 4, 1))
X1 = t(1.0, shape=(1, 1, 1))
H0, C0 = 0.6, -2.0


def lstm_by_hand(
    pre: dict[str, float],
    c0: float = C0,
    clip: float | None = None,
    input_forget: bool = False,
    peephole: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[float, float]:
    cl = (lambda v: max(-clip, min(clip, v))) if clip else (lambda v: v)
    p_i, p_o, p_f = peephole
    i = sigmoid(cl(pre["i"] + p_i * c0))
    f = 1 - i if input_forget else sigmoid(cl(pre["f"] + p_f * c0))
    c_new = f * c0 + i * math.tanh(cl(pre["c"]))
    o = sigmoid(cl(pre["o"] + p_o * c_new))
    return o * math.tanh(cl(c_new)), c_new


W_ROWS, R_ROWS = (0.5, -0.25, 1.5, 0.75), (0.1, 0.2, 0.3, 0.4)
PRE = {g: w + r * H0 for g, w, r in zip("iofc", W_ROWS, R_ROWS, strict=True)}


def lstm_node(**attrs: object) -> RecurrentOp:
    return RecurrentOp(op="LSTM", hidden_size=1, **attrs)  # type: ignore[arg-type]


def lstm_inputs() -> dict[str, torch.Tensor]:
    return {
        "X": X1,
        "W": W_LSTM,
        "R": R_LSTM,
        "initial_h": t(H0, shape=(1, 1, 1)),
        "initial_c": t(C0, shape=(1, 1, 1)),
    }


def test_lstm_gate_order_i_o_f_c() -> None:
    out = run(lstm_node(), **lstm_inputs())
    h, c = lstm_by_hand(PRE)
    assert out["Y_h"].item() == pytest.approx(h, abs=1e-15)
    assert out["Y_c"].item() == pytest.approx(c, abs=1e-15)
    assert torch.equal(out["Y"][0], out["Y_h"])
    # torch's order (i, f, g, o) read as ONNX's would give another number
    wrong = {"i": PRE["i"], "f": PRE["o"], "c": PRE["f"], "o": PRE["c"]}
    assert abs(lstm_by_hand(wrong)[0] - h) > 0.05


def test_lstm_bias_is_wb_then_rb() -> None:
    bias = t(0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0, shape=(1, 8))
    out = run(lstm_node(), **lstm_inputs(), B=bias)
    wb, rb = (0.1, 0.2, 0.3, 0.4), (1.0, 2.0, 3.0, 4.0)
    pre = {g: PRE[g] + b1 + b2 for g, b1, b2 in zip("iofc", wb, rb, strict=True)}
    assert out["Y_h"].item() == pytest.approx(lstm_by_hand(pre)[0], abs=1e-15)


def test_lstm_peepholes_p_i_o_f_use_the_old_and_new_cell() -> None:
    peep = (0.3, -0.7, 0.9)
    out = run(lstm_node(), **lstm_inputs(), P=t(*peep, shape=(1, 3)))
    h, c = lstm_by_hand(PRE, peephole=peep)
    assert out["Y_h"].item() == pytest.approx(h, abs=1e-15)
    assert out["Y_c"].item() == pytest.approx(c, abs=1e-15)


def test_lstm_clip_bounds_every_activation_input_h_of_c_included() -> None:
    out = run(lstm_node(clip=0.5), **lstm_inputs())
    h, c = lstm_by_hand(PRE, clip=0.5)
    assert out["Y_h"].item() == pytest.approx(h, abs=1e-15)
    assert out["Y_c"].item() == pytest.approx(c, abs=1e-15)  # C_t itself is not clipped
    assert abs(c) > 0.5
    unclipped_h = sigmoid(max(-0.5, min(0.5, PRE["o"]))) * math.tanh(c)  # h(C_t) unclipped
    assert abs(unclipped_h - h) > 0.01


def test_lstm_input_forget_couples_f_to_one_minus_i() -> None:
    out = run(lstm_node(input_forget=True), **lstm_inputs())
    assert out["Y_h"].item() == pytest.approx(lstm_by_hand(PRE, input_forget=True)[0], abs=1e-15)


def test_lstm_activations_f_g_h() -> None:
    node = lstm_node(
        activations=("HardSigmoid", "Softsign", "LeakyRelu"),
        activation_alpha=(0.3, 0.2),
        activation_beta=(0.4,),
    )
    out = run(node, **lstm_inputs())
    f = lambda v: min(max(0.3 * v + 0.4, 0.0), 1.0)  # noqa: E731
    g = lambda v: v / (1 + abs(v))  # noqa: E731
    h = lambda v: v if v >= 0 else 0.2 * v  # noqa: E731
    c_new = f(PRE["f"]) * C0 + f(PRE["i"]) * g(PRE["c"])
    assert out["Y_h"].item() == pytest.approx(f(PRE["o"]) * h(c_new), abs=1e-15)


def test_absent_initial_state_is_zero() -> None:
    inputs = {"X": X1, "W": W_LSTM, "R": R_LSTM}
    out = run(lstm_node(), **inputs)
    pre = {g: w for g, w in zip("iofc", W_ROWS, strict=True)}
    assert out["Y_h"].item() == pytest.approx(lstm_by_hand(pre, c0=0.0)[0], abs=1e-15)


# ------------------------------------------------------------------ GRU


@pytest.mark.parametrize("linear_before_reset", [False, True])
def test_gru_z_r_h_and_linear_before_reset(linear_before_reset: bool) -> None:
    w = t(0.5, -1.0, 0.8, shape=(1, 3, 1))  # z, r, h
    r = t(0.3, 0.6, -0.9, shape=(1, 3, 1))
    bias = t(0.1, 0.2, 0.3, 0.05, -0.15, 0.4, shape=(1, 6))
    h0 = 0.7
    node = RecurrentOp(op="GRU", hidden_size=1, linear_before_reset=linear_before_reset)
    out = run(node, X=X1, W=w, R=r, B=bias, initial_h=t(h0, shape=(1, 1, 1)))
    z = sigmoid(0.5 + 0.3 * h0 + 0.1 + 0.05)
    reset = sigmoid(-1.0 + 0.6 * h0 + 0.2 - 0.15)
    if linear_before_reset:
        candidate = math.tanh(0.8 + 0.3 + reset * (-0.9 * h0 + 0.4))
    else:
        candidate = math.tanh(0.8 + (reset * h0) * -0.9 + 0.4 + 0.3)
    assert out["Y_h"].item() == pytest.approx((1 - z) * candidate + z * h0, abs=1e-15)


# ------------------------------------------------------------------ RNN and the activations

ACTIVATION_CASES = [
    ("Relu", (), (), lambda v: max(0.0, v)),
    ("Tanh", (), (), math.tanh),
    ("Sigmoid", (), (), sigmoid),
    ("Affine", (0.8,), (0.1,), lambda v: 0.8 * v + 0.1),
    ("Affine", (), (), lambda v: v),  # defaults 1 and 0
    ("LeakyRelu", (0.2,), (), lambda v: v if v >= 0 else 0.2 * v),
    ("LeakyRelu", (), (), lambda v: v if v >= 0 else 0.01 * v),
    ("ThresholdedRelu", (0.3,), (), lambda v: v if v >= 0.3 else 0.0),
    ("ThresholdedRelu", (), (), lambda v: v if v >= 1.0 else 0.0),
    ("ScaledTanh", (1.3,), (0.7,), lambda v: 1.3 * math.tanh(0.7 * v)),
    ("HardSigmoid", (0.3,), (0.4,), lambda v: min(max(0.3 * v + 0.4, 0.0), 1.0)),
    ("HardSigmoid", (), (), lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0)),
    ("Elu", (0.6,), (), lambda v: v if v >= 0 else 0.6 * (math.exp(v) - 1)),
    ("Elu", (), (), lambda v: v if v >= 0 else math.exp(v) - 1),
    ("Softsign", (), (), lambda v: v / (1 + abs(v))),
    ("Softplus", (), (), lambda v: math.log(1 + math.exp(v))),
]


@pytest.mark.parametrize(("name", "alpha", "beta", "by_hand"), ACTIVATION_CASES)
def test_every_activation(
    name: str, alpha: tuple[float, ...], beta: tuple[float, ...], by_hand: object
) -> None:
    xs = [-2.0, -0.5, 0.2, 0.8, 1.5]
    node = RecurrentOp(
        op="RNN", hidden_size=1, activations=(name,), activation_alpha=alpha, activation_beta=beta
    )
    x = t(*xs, shape=(5, 1, 1))
    out = run(node, X=x, W=t(1.0, shape=(1, 1, 1)), R=t(0.0, shape=(1, 1, 1)))
    assert out["Y"].flatten().tolist() == pytest.approx([by_hand(v) for v in xs], abs=1e-15)  # type: ignore[operator]


def test_alpha_and_beta_are_consumed_by_the_activations_that_take_them() -> None:
    node = RecurrentOp(
        op="LSTM",
        hidden_size=1,
        activations=("HardSigmoid", "Tanh", "LeakyRelu"),
        activation_alpha=(0.3, 0.2),
        activation_beta=(0.4,),
    )
    acts = node.direction_activations(0)
    assert [(a.name, a.alpha, a.beta) for a in acts] == [
        ("HardSigmoid", 0.3, 0.4),
        ("Tanh", None, None),
        ("LeakyRelu", 0.2, None),
    ]
    with pytest.raises(SpecError, match="left over"):
        RecurrentOp(op="RNN", hidden_size=1, activations=("Tanh",), activation_alpha=(0.5,))
    with pytest.raises(SpecError, match="no default"):
        RecurrentOp(op="RNN", hidden_size=1, activations=("ScaledTanh",))
    with pytest.raises(SpecError, match="takes 2 activations"):
        RecurrentOp(op="RNN", hidden_size=1, direction="bidirectional", activations=("Tanh",))


def test_rnn_clip() -> None:
    node = RecurrentOp(op="RNN", hidden_size=1, clip=0.5, activations=("Relu",))
    out = run(
        node, X=t(2.0, -3.0, shape=(2, 1, 1)), W=t(1.0, shape=(1, 1, 1)), R=t(0.0, shape=(1, 1, 1))
    )
    assert out["Y"].flatten().tolist() == [0.5, 0.0]


# ------------------------------------------------------------------ direction, lengths, layout


def rnn_by_hand(xs: list[float], h0: float, w: float, r: float) -> list[float]:
    hs, h = [], h0
    for x in xs:
        h = math.tanh(w * x + r * h)
        hs.append(h)
    return hs


def test_reverse_reads_from_the_last_step_and_bidirectional_has_both() -> None:
    xs = [0.5, -1.0, 2.0]
    w, r = t(0.7, -0.4, shape=(2, 1, 1)), t(0.9, 0.3, shape=(2, 1, 1))
    h0 = t(0.1, -0.2, shape=(2, 1, 1))
    x = t(*xs, shape=(3, 1, 1))
    out = run(
        RecurrentOp(op="RNN", hidden_size=1, direction="bidirectional"), X=x, W=w, R=r, initial_h=h0
    )
    forward = rnn_by_hand(xs, 0.1, 0.7, 0.9)
    backward = rnn_by_hand(xs[::-1], -0.2, -0.4, 0.3)[::-1]
    assert out["Y"][:, 0].flatten().tolist() == pytest.approx(forward, abs=1e-15)
    assert out["Y"][:, 1].flatten().tolist() == pytest.approx(backward, abs=1e-15)
    assert out["Y_h"].flatten().tolist() == pytest.approx([forward[-1], backward[0]], abs=1e-15)
    alone = run(
        RecurrentOp(op="RNN", hidden_size=1, direction="reverse"),
        X=x,
        W=w[1:],
        R=r[1:],
        initial_h=h0[1:],
    )
    assert torch.equal(alone["Y"][:, 0], out["Y"][:, 1])


def test_sequence_lens_zero_y_past_each_length_and_keep_the_last_valid_state() -> None:
    xs = [[0.5, 1.0], [-1.0, 0.3], [2.0, -0.6]]  # (L=3, N=2)
    node = RecurrentOp(op="RNN", hidden_size=1, direction="bidirectional")
    w, r = t(0.7, -0.4, shape=(2, 1, 1)), t(0.9, 0.3, shape=(2, 1, 1))
    out = run(
        node,
        X=torch.tensor(xs, dtype=torch.float64)[..., None],
        W=w,
        R=r,
        sequence_lens=torch.tensor([3, 2], dtype=torch.int32),
    )
    second = [row[1] for row in xs][:2]  # the second sequence has length 2
    forward = rnn_by_hand(second, 0.0, 0.7, 0.9)
    backward = rnn_by_hand(second[::-1], 0.0, -0.4, 0.3)[::-1]  # starts at its own last step
    assert out["Y"][:, 0, 1, 0].tolist() == pytest.approx([*forward, 0.0], abs=1e-15)
    assert out["Y"][:, 1, 1, 0].tolist() == pytest.approx([*backward, 0.0], abs=1e-15)
    assert out["Y_h"][:, 1, 0].tolist() == pytest.approx([forward[-1], backward[0]], abs=1e-15)


def test_layout_1_puts_the_batch_first_everywhere() -> None:
    torch.manual_seed(0)
    node0 = RecurrentOp(op="LSTM", hidden_size=3, direction="bidirectional")
    node1 = RecurrentOp(op="LSTM", hidden_size=3, direction="bidirectional", layout=1)
    x = torch.randn(4, 2, 5, dtype=torch.float64)  # (L, N, I)
    w, r = torch.randn(2, 12, 5, dtype=torch.float64), torch.randn(2, 12, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 2, 3, dtype=torch.float64), torch.randn(2, 2, 3, dtype=torch.float64)
    a = run(node0, X=x, W=w, R=r, initial_h=h0, initial_c=c0)
    b = run(
        node1,
        X=x.transpose(0, 1),
        W=w,
        R=r,
        initial_h=h0.transpose(0, 1),
        initial_c=c0.transpose(0, 1),
    )
    assert b["Y"].shape == (2, 4, 2, 3) and b["Y_h"].shape == (2, 2, 3)
    assert torch.equal(b["Y"], a["Y"].permute(2, 0, 1, 3))
    assert torch.equal(b["Y_c"], a["Y_c"].transpose(0, 1))


def test_attributes_are_read_and_checked() -> None:
    node = op_from_attributes(
        "GRU", {"hidden_size": 4, "linear_before_reset": 1, "direction": "reverse", "clip": 2.5}
    )
    assert node.linear_before_reset and node.direction == "reverse" and node.clip == 2.5
    with pytest.raises(SpecError, match="not one ONNX defines"):
        op_from_attributes("GRU", {"hidden_size": 4, "input_forget": 1})
    with pytest.raises(SpecError, match="no hidden_size"):
        op_from_attributes("RNN", {})
    with pytest.raises(SpecError, match="unknown activation"):
        op_from_attributes("RNN", {"hidden_size": 2, "activations": ["Swish"]})


# ---------------------------------------------- torch's modules through ONNX's operators

CONFIGS = [
    (cell, layers, bidirectional, batch_first, bias, lengths, unbatched)
    for cell, layers, bidirectional, batch_first, bias, lengths, unbatched in itertools.product(
        ["lstm", "gru", "rnn", "lstm_cell", "gru_cell", "rnn_cell"],
        [1, 2],
        [False, True],
        [False, True],
        [True, False],
        [None, (5, 3, 2)],
        [False, True],
    )
    if not (cell.endswith("cell") and (layers > 1 or bidirectional or batch_first or lengths))
    and not (unbatched and (batch_first or lengths))
]


@pytest.mark.parametrize(
    ("cell", "layers", "bidirectional", "batch_first", "bias", "lengths", "unbatched"), CONFIGS
)
def test_torch_modules_are_one_configuration_of_the_onnx_operators_bit_for_bit(
    cell: str,
    layers: int,
    bidirectional: bool,
    batch_first: bool,
    bias: bool,
    lengths: tuple[int, ...] | None,
    unbatched: bool,
) -> None:
    given: dict[str, object] = {
        "cell": cell,
        "input_size": 4,
        "hidden_size": 6,
        "bias": bias,
        "unbatched": unbatched,
    }
    if not cell.endswith("cell"):
        given.update(
            num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, seq_len=5
        )
    if not unbatched:
        given["batch"] = 3
    if lengths:
        given["lengths"] = lengths
    if cell == "rnn":
        given["nonlinearity"] = "relu" if bias else "tanh"
    spec = make_spec(**given)
    module = torch_module(spec, "cpu", torch.float64)
    params = {name: value.detach() for name, value in module.named_parameters()}
    inputs = example_inputs(spec, torch.device("cpu"), torch.float64)
    torch_reference = reference_forward(spec, params, inputs)
    onnx_reference = forward_as_onnx(spec, params, inputs)
    assert torch_reference.keys() == onnx_reference.keys()
    for name, value in torch_reference.items():
        assert torch.equal(value, onnx_reference[name]), name


def test_proj_size_has_no_onnx_operator() -> None:
    spec = make_spec(cell="lstm", input_size=4, hidden_size=6, proj_size=2)
    module = torch_module(spec, "cpu", torch.float64)
    params = {name: value.detach() for name, value in module.named_parameters()}
    with pytest.raises(SpecError, match="proj_size"):
        forward_as_onnx(spec, params, example_inputs(spec, torch.device("cpu"), torch.float64))
