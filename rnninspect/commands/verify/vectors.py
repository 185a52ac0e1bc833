"""``rnninspect verify --vectors DIR [--impl TARGET]``: an implementation checked against saved
golden vectors (``rnninspect vectors``), offline: the same numbers every time, whatever torch
or rnninspect derives today.

The implementation (torch's module, or the ``--impl`` factory called with torch's constructor
arguments) is given the file's parameters, run on the file's input and initial states, and
back-propagates the file's upstream gradients; every output, final state and gradient is
compared with the file's, in ``--dtype``, with verify's tolerance for it. An ``--impl`` runs in
a child process, as verify runs it. There is no noise floor here (nothing is run in float64 to
measure one), so a row passes or fails.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnninspect import __version__
from rnninspect.base.errors import SpecError
from rnninspect.commands.vectors import load, spec_of
from rnninspect.commands.verify.calls import module_forward
from rnninspect.core import isolation
from rnninspect.core.build import result_names
from rnninspect.core.impl import build, load_factory
from rnninspect.core.parity import Tolerance, compare, default_tolerance, given_tolerance
from rnninspect.core.runs import run_with_grads
from rnninspect.model.spec import RNNSpec
from rnninspect.reports.conformance import OutputRow
from rnninspect.reports.vectors import VectorsVerifyReport

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def verify_vectors(
    folder: str | Path,
    impl: str | None = None,
    dtype: str = "float32",
    atol: float | None = None,
    rtol: float | None = None,
    timeout: float | None = None,
) -> VectorsVerifyReport:
    """Every output and gradient of the implementation against one folder's vectors."""
    root = Path(folder)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise SpecError(
            f"--vectors {folder}: no manifest.json in it (give one configuration's folder, "
            "as rnninspect vectors -o wrote it)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        arrays = load(root / manifest["file"], manifest["format"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"--vectors {folder}: not a vectors folder ({exc})") from None
    spec = spec_of(manifest["config"], manifest_path)
    tolerance = given_tolerance(default_tolerance(DTYPES[dtype]), atol, rtol)
    work = functools.partial(_check, spec, impl, arrays, dtype, tolerance)
    if impl is None:
        rows = work()
    else:
        rows = isolation.run(
            work, (), how="fork", threads=1, timeout=timeout, what="the implementation under test"
        )
    return VectorsVerifyReport(
        folder=str(folder),
        spec=spec.to_spec_string(),
        implementation=impl or f"torch.nn.{spec.cell.torch_name}",
        dtype=dtype,
        stored_by=str(manifest.get("generator", "?")),
        versions={"rnninspect": __version__, "torch": torch.__version__},
        rows=tuple(rows),
    )


def _check(
    spec: RNNSpec,
    impl: str | None,
    arrays: Mapping[str, np.ndarray],
    dtype: str,
    tolerance: Tolerance,
) -> list[OutputRow]:
    chosen = DTYPES[dtype]

    def tensor(name: str) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(arrays[name])).to(chosen)

    state = {
        name.removeprefix("param:"): tensor(name) for name in arrays if name.startswith("param:")
    }
    if impl is None:
        module: nn.Module = getattr(nn, spec.cell.torch_name)(**spec.constructor_kwargs())
        module.load_state_dict(state)
        module = module.to(chosen)
        what = "module"
    else:
        module = build(load_factory(impl), spec, state, impl).to(chosen)
        what = "implementation"
    module.eval()
    inputs = {name: tensor(name) for name in ("input", "h0", "c0") if name in arrays}
    upstream = {name: tensor(f"upstream:{name}") for name in result_names(spec)}
    params = dict(module.named_parameters())
    found = run_with_grads(module_forward(module, spec, what), params, inputs, upstream)
    rows = []
    for name, value in found.rows().items():
        stored = arrays.get(name)
        expected = None if stored is None else torch.from_numpy(np.ascontiguousarray(stored))
        comparison = compare(value, expected, tolerance)
        verdict = "pass" if comparison.problem is None and comparison.within() else "fail"
        rows.append(
            OutputRow(
                tensor=name,
                seq_len=spec.seq_len,
                batch=spec.batch,
                max_abs_err=comparison.max_abs_err,
                max_rel_err=comparison.max_rel_err,
                atol=tolerance.atol,
                rtol=tolerance.rtol,
                noise_floor=0.0,
                verdict=verdict,
                problem=comparison.problem,
                worst=None
                if comparison.worst is None or verdict == "pass"
                else (list(comparison.worst), comparison.actual, comparison.expected),
            )
        )
    return rows
