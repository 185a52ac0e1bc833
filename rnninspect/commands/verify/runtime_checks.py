"""``verify --runtime``: each runtime's artefact, made once at the example shapes, run at those
shapes and at others, and judged row by row against the float64 reference.

Baked-in shapes are the commonest export bug, so every artefact also runs at a second sequence
length and batch (by default L+3 and N+1). Gradient rows come only from runtimes that have
gradients (compile, export); ONNX Runtime's rows are forward only, and the result says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from rnninspect.core.build import example_inputs, upstream_gradients
from rnninspect.core.parity import Tolerance, compare_rows, judge
from rnninspect.core.runs import reference_side, run_with_grads
from rnninspect.core.runtimes import RuntimeFailed, prepare
from rnninspect.core.runtimes.base import Prepared, RuntimeOptions
from rnninspect.files import output
from rnninspect.model.spec import RNNSpec
from rnninspect.reports.verify import RuntimeResult


def shapes_to_run(
    spec: RNNSpec, other_seq_len: int | None, other_batch: int | None
) -> list[RNNSpec]:
    """The example's spec and one at another sequence length and batch."""
    batch = spec.batch + 1 if other_batch is None else other_batch
    if spec.lengths is not None:  # every sequence 3 steps longer, and one more of the longest
        longer = tuple(length + 3 for length in spec.lengths)
        lengths = (*longer, *(max(longer),) * (batch - len(longer)))[:batch]
        length = max(lengths) if other_seq_len is None else max(other_seq_len, max(lengths))
        return [spec, dataclasses.replace(spec, lengths=lengths, batch=batch, seq_len=length)]
    if spec.cell.is_cell:
        other = spec if spec.unbatched else dataclasses.replace(spec, batch=batch)
    else:
        length = spec.seq_len + 3 if other_seq_len is None else other_seq_len
        other = dataclasses.replace(spec, seq_len=length, batch=1 if spec.unbatched else batch)
    return [spec] if other == spec else [spec, other]


def check_runtime(
    name: str,
    module: nn.Module,
    spec: RNNSpec,
    settings: RuntimeOptions,
    tolerance: Tolerance,
    device: torch.device,
    dtype: torch.dtype,
    ref_device: torch.device,
    zero_state: bool,
    given: Prepared | None = None,
) -> list[RuntimeResult]:
    """Prepare runtime ``name`` once (or take the ``given`` artefact, a user's ONNX file), then
    judge it at every shape of :func:`shapes_to_run`."""
    shapes = shapes_to_run(spec, settings.other_seq_len, settings.other_batch)
    example = example_inputs(spec, device, dtype, zero_state=zero_state)
    try:
        prepared = given or prepare(name, module, spec, example, settings)
    except RuntimeFailed as exc:
        return [RuntimeResult(name, name, _length(s), _batch(s), error=str(exc)) for s in shapes]
    saved = None if given else _save(prepared, name, settings.save_artifact)
    zero_state = zero_state or prepared.zero_state  # an artefact that takes no initial state
    results = []
    for shaped in shapes:
        inputs = example_inputs(shaped, device, dtype, zero_state=zero_state)
        result = _judge(name, prepared, module, shaped, inputs, tolerance, device, ref_device)
        result.saved = saved
        result.compiled = prepared.compiled
        results.append(result)
    return results


def _save(prepared: Prepared, name: str, where: str | None) -> str | None:
    """``--save-artifact``: the exact file that was verified, into a file or, for several
    runtimes, a folder (``onnx.onnx``, ``export.pt2``)."""
    if where is None or prepared.artifact is None:
        return None
    folder = Path(where)
    path = folder / f"{name}{prepared.suffix}" if folder.is_dir() else folder
    target = output.target(path, "--save-artifact")
    output.write_atomically(target, prepared.artifact, "--save-artifact")
    return str(path)


def _length(spec: RNNSpec) -> int | None:
    return None if spec.cell.is_cell else spec.seq_len


def _batch(spec: RNNSpec) -> int | None:
    return None if spec.unbatched else spec.batch


def _judge(
    name: str,
    prepared: Prepared,
    module: nn.Module,
    spec: RNNSpec,
    inputs: Mapping[str, Tensor],
    tolerance: Tolerance,
    device: torch.device,
    ref_device: torch.device,
) -> RuntimeResult:
    result = RuntimeResult(
        name, prepared.detail, _length(spec), _batch(spec), gradients=prepared.gradients
    )
    upstream = upstream_gradients(spec, device)
    try:
        if prepared.gradients:

            def forward(x: Mapping[str, Tensor]) -> dict[str, Tensor]:
                return prepared.run(x, spec)

            tested = run_with_grads(forward, prepared.parameters, inputs, upstream)
            tested_rows, misshapen = tested.rows(), tested.misshapen
        else:
            with torch.no_grad():
                tested_rows, misshapen = dict(prepared.run(inputs, spec)), {}
    except RuntimeFailed as exc:
        result.error = str(exc)
        return result
    except Exception as exc:
        result.error = str(RuntimeFailed("run", exc))
        return result
    reference = run_with_grads(*reference_side(spec, module, inputs, ref_device), upstream)
    expected = reference.rows() if prepared.gradients else dict(reference.outputs)
    if prepared.results is not None:  # a file that gives fewer results than torch: those it gives
        expected = {row: value for row, value in expected.items() if row in prepared.results}
    dtype = inputs["input"].dtype
    comparisons = compare_rows(tested_rows, expected, tolerance, dtype, misshapen)
    result.rows = [judge(row, comparison, tolerance) for row, comparison in comparisons.items()]
    return result
