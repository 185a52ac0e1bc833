"""parity.compare, measured in few passes and one read-back, against its definition written the
plain way: the same numbers to the last bit, the same worst element."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from rnninspect.core.parity import Tolerance, compare, distance

VALUES = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0.0, 1e-300, -2.5, math.inf, -math.inf, math.nan]),
)


def plain(a: torch.Tensor, e: torch.Tensor, tol: Tolerance) -> tuple[object, ...]:
    """The definition in compare's docstring, one step at a time."""
    a, e = a.double(), e.double()
    bad = ~(torch.isfinite(a) & torch.isfinite(e))
    if bad.any():
        flat = int(bad.flatten().nonzero()[0])
        return ("exploded", flat)
    diff = (a - e).abs().flatten()
    scale = max(1.0, e.abs().max().item())
    ratio = torch.nan_to_num(diff / (tol.atol * scale + tol.rtol * e.abs().flatten()), nan=0.0)
    flat = int(ratio.argmax()) if ratio.max() > 0 else int(diff.argmax())
    nonzero = e.abs().flatten() > 0
    rel = (diff[nonzero] / e.abs().flatten()[nonzero]).max().item() if nonzero.any() else 0.0
    return (diff.max().item(), rel, ratio.max().item(), flat)


@given(
    pairs=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=24),
    atol=st.sampled_from([1e-5, 1e-12, 0.0]),
    rtol=st.sampled_from([1.3e-6, 0.0]),
)
def test_compare_is_its_definition(
    pairs: list[tuple[float, float]], atol: float, rtol: float
) -> None:
    tol = Tolerance(atol, rtol, "test")
    a = torch.tensor([p[0] for p in pairs]).reshape(len(pairs), 1)
    e = torch.tensor([p[1] for p in pairs]).reshape(len(pairs), 1)
    found = compare(a, e, tol)
    expected = plain(a, e, tol)
    if expected[0] == "exploded":
        assert found.exploded and found.worst == (expected[1], 0)
        return
    max_abs, rel, excess, flat = expected
    assert not found.exploded and found.worst == (flat, 0)
    assert (found.max_abs_err, found.max_rel_err) == (max_abs, rel)
    assert found.excess == excess or (math.isnan(found.excess) and math.isnan(excess))
    assert (found.actual, found.expected) == (a[flat, 0].item(), e[flat, 0].item())


@given(pairs=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=24))
def test_distance_is_compare_max_abs_err(pairs: list[tuple[float, float]]) -> None:
    """The noise floor's one-pass distance is compare's largest error, inf where compare finds
    the row exploded."""
    a = torch.tensor([p[0] for p in pairs], dtype=torch.float32)
    e = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    found = distance(a, e)
    full = compare(a, e, Tolerance(1e-5, 1.3e-6, "test"))
    assert found == (math.inf if full.exploded else full.max_abs_err)


def test_distance_without_a_side_or_in_another_shape_is_none() -> None:
    x = torch.zeros(2, 3)
    assert distance(None, x) is None and distance(x, None) is None
    assert distance(x, torch.zeros(3, 2)) is None
    assert distance(torch.zeros(0), torch.zeros(0)) == 0.0
