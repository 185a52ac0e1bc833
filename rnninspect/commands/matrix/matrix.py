"""``rnninspect matrix``: many configurations from one TOML file, verified in one process.

The file holds optional ``[defaults]``, any number of ``[[case]]`` tables and an optional
``[matrix]`` whose lists are combined in every way; see docs/ci.md. The whole file is read and
every case validated (its configuration, its options, its ``impl`` imported) before anything
runs, so a mistake in the last case is reported before the first one is verified.
"""

from __future__ import annotations

import difflib
import functools
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnninspect.base.errors import MatrixFileError as MatrixFileError
from rnninspect.base.errors import RNNInspectError
from rnninspect.commands.matrix import expand
from rnninspect.commands.verify.verification import verify
from rnninspect.core.impl import ImplError, load_factory
from rnninspect.core.options import VerifyOptions
from rnninspect.core.runs import ImplementationFailed
from rnninspect.model.spec import (
    DEFAULTS,
    SEQUENCE_ONLY,
    CellKind,
    RNNSpec,
    SpecError,
    make_spec,
    parse_spec,
)
from rnninspect.reports.common import versions
from rnninspect.reports.matrix import Case, CaseResult, MatrixReport

#: Keys of VerifyOptions a case may set, besides the configuration.
OPTION_KEYS = (
    "device",
    "dtype",
    "atol",
    "rtol",
    "reference_dtype",
    "zero_state",
    "weight_scale",
    "tf32",
    "timeout",
    "runtime",
    "exporter",
    "fullgraph",
)

#: Options a case's default name never shows: every case has one, and they name no variant.
UNNAMED_OPTIONS = ("timeout",)

#: The most cases one file may expand to, counted before any is built.
MAX_CASES = 10_000

#: Seconds one case may run before it fails as timed out, unless the file or --timeout says.
DEFAULT_TIMEOUT = 600.0
CONFIG_KEYS = tuple(DEFAULTS)
CASE_KEYS = ("name", "spec", "impl", *CONFIG_KEYS, *OPTION_KEYS)
TOP_KEYS = ("defaults", "case", "matrix")


# ---------------------------------------------------------------------------------------------
# Reading and validating


def load(
    path: Path, device: str = "cpu", dtype: str = "float32", timeout: float | None = None
) -> list[Case]:
    """Read and validate a matrix file; every case comes back ready to run.

    ``timeout`` is the seconds a case may run when it sets no ``timeout`` of its own
    (default :data:`DEFAULT_TIMEOUT`).
    """
    from rnninspect.core import devices

    devices.resolve_dtype(dtype, devices.resolve_device(device))
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MatrixFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MatrixFileError(f"{path}: cannot read it: {exc}") from None
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise MatrixFileError(f"{path}: not valid TOML: {exc}") from None

    _known(data, TOP_KEYS, f"{path}: top-level table")
    defaults = _table(data.get("defaults", {}), "[defaults]", path)
    _known(defaults, (*CONFIG_KEYS, *OPTION_KEYS), f"{path}: [defaults]")
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list):
        raise MatrixFileError(f"{path}: 'case' must be an array of tables, written [[case]]")
    matrix = _table(data.get("matrix", {}), "[matrix]", path)
    _known(matrix, (*CONFIG_KEYS, *OPTION_KEYS, *expand.LISTS), f"{path}: [matrix]")
    for key, values in expand.axes_of(matrix).items():
        if not isinstance(values, list) or not values:
            raise MatrixFileError(f"{path}: [matrix] {key} must be a non-empty list of values")
    for name in expand.LISTS:
        for index, entry in enumerate(matrix.get(name, []), start=1):
            if isinstance(entry, dict):
                _known(entry, CASE_KEYS, f"{path}: [matrix] {name} #{index}")

    entries: list[tuple[str, dict[str, Any]]] = []
    for index, raw in enumerate(raw_cases, start=1):
        where = f"[[case]] #{index}"
        case = _table(raw, where, path)
        if "name" in case:
            where = f"[[case]] {case['name']!r}"
        _known(case, CASE_KEYS, f"{path}: {where}")
        entries.append((where, {**applicable(defaults, case), **case}))
    count = len(entries) + expand.count(matrix)
    if count > MAX_CASES:
        raise MatrixFileError(
            f"{path}: {count:,} cases ([[case]] tables and [matrix] combinations), over the "
            f"{MAX_CASES:,} one file may hold: split it, or shorten the [matrix] lists"
        )
    try:
        combinations = expand.combinations(matrix)
    except expand.ExpandError as exc:
        raise MatrixFileError(f"{path}: [matrix] {exc}") from None
    for combination in combinations:
        summary = ", ".join(f"{key}={value!r}" for key, value in combination.items())
        entries.append(
            (f"[matrix] {summary}", {**applicable(defaults, combination), **combination})
        )
    if not entries:
        raise MatrixFileError(f"{path}: no cases: add [[case]] tables or a [matrix]")

    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    entries = [(where, {"timeout": limit, **values}) for where, values in entries]
    built = [_case(where, values, device, dtype, path) for where, values in entries]
    return _unique_names(_named(built))


def applicable(defaults: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults that have a meaning for the case's class: ``seq_len`` and the other
    sequence-only settings not for a Cell, ``proj_size`` only for LSTM, ``nonlinearity`` only
    for RNN. A key the case itself writes is kept, and refused later if it has no meaning."""
    try:
        cell = _case_cell(defaults, case)
    except (SpecError, ValueError):
        return dict(defaults)  # the case's own error is reported when it is validated
    kept = {}
    for key, value in defaults.items():
        if cell.is_cell and key in SEQUENCE_ONLY:
            continue
        if key == "proj_size" and cell != CellKind.LSTM:
            continue
        if key == "nonlinearity" and cell.family != "rnn":
            continue
        kept[key] = value
    return kept


def _case_cell(defaults: Mapping[str, Any], case: Mapping[str, Any]) -> CellKind:
    """The class a case builds: its own cell, else its spec's, else the defaults'."""
    if "cell" in case:
        return CellKind(case["cell"])
    if isinstance(case.get("spec"), str):
        return parse_spec(case["spec"])[0]
    return CellKind(defaults.get("cell", DEFAULTS["cell"]))


def _table(value: Any, where: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MatrixFileError(f"{path}: {where} must be a table")
    return value


def _known(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MatrixFileError(f"{where}: unknown key {key!r}{hint}")


@functools.cache
def _importable(impl: str) -> None:
    """Import an ``impl`` target as verify will, in a child process
    (:mod:`rnninspect.core.isolation`): its module's code runs on import, and code that ends the
    process must not end this one. Each target once."""
    from rnninspect.core import isolation

    isolation.run(
        _import_only,
        (impl,),
        how="fork",
        threads=1,
        timeout=None,
        what=f"importing {impl}",
        lost="it cannot be verified",
    )


def _import_only(impl: str) -> bool:
    load_factory(impl)
    return True


def _named(built: list[tuple[Case, dict[str, Any] | None]]) -> list[Case]:
    """Each case without a name of its own named by its SPEC, the example-input settings that
    differ from the defaults, and every option that differs between the cases (an ``exporter``
    too, where only one case sets it); options every case shares are left out."""
    given = [named for _, named in built if named is not None]
    keys = {key for named in given for key in named}
    differing = [
        key
        for key in OPTION_KEYS
        if key in keys and len({_option_text(named.get(key)) for named in given}) > 1
    ]
    cases = []
    for case, named in built:
        if named is not None:
            shown = {key: named[key] for key in differing if key in named}
            impl = case.options.impl if isinstance(case.options.impl, str) else None
            case = replace(case, name=_summary(case.spec, impl, shown))
        cases.append(case)
    return cases


def _option_text(value: Any) -> str:
    """An option's value as a case name shows it: a list as ``export,compile``, not a repr."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_option_text(item) for item in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _case(
    where: str, values: dict[str, Any], device: str, dtype: str, path: Path
) -> tuple[Case, dict[str, Any] | None]:
    """The case, and the options it sets for its default name (None where it has a name of its
    own)."""
    values = dict(values)
    name = values.pop("name", None)
    spec_text = values.pop("spec", None)
    impl = values.pop("impl", None)
    options = {key: values.pop(key) for key in OPTION_KEYS if key in values}
    named = {key: value for key, value in options.items() if key not in UNNAMED_OPTIONS}
    if "runtime" in options:
        options["runtimes"] = options.pop("runtime")
    options = {"device": device, "dtype": dtype, **options}
    _available(where, options["device"], options["dtype"], path)
    try:
        given: dict[str, Any] = {}
        if spec_text is not None:
            if not isinstance(spec_text, str):
                raise SpecError(f"spec must be a string, got {spec_text!r}")
            cell, from_spec = parse_spec(spec_text)
            given = {"cell": cell, **from_spec}
        spec = make_spec(**{**given, **values})
        if impl is not None and not isinstance(impl, str):
            raise SpecError(f"impl must be a string such as 'pkg.module:Name', got {impl!r}")
        verify_options = VerifyOptions(impl=impl, timing=False, **options)
        if impl is not None:
            _importable(impl)  # import now: a broken target is bad input, before any run
    except RNNInspectError as exc:
        raise MatrixFileError(f"{path}: {where}: {exc}") from None
    except TypeError as exc:
        raise MatrixFileError(f"{path}: {where}: {exc}") from None
    if name is not None and not isinstance(name, str):
        raise MatrixFileError(f"{path}: {where}: name must be a string")
    return Case(name or _summary(spec, impl), spec, verify_options), (None if name else named)


def _available(where: str, device: Any, dtype: Any, path: Path) -> None:
    """A case's device and dtype exist here; else exit 3 naming the case, before any runs."""
    from rnninspect.core import devices

    if not isinstance(device, str):
        raise MatrixFileError(f"{path}: {where}: device must be a string, got {device!r}")
    try:
        devices.resolve_dtype(dtype, devices.resolve_device(device))
    except devices.Unavailable as exc:
        raise devices.Unavailable(f"{path}: {where}: {exc}") from None
    except RNNInspectError as exc:
        raise MatrixFileError(f"{path}: {where}: {exc}") from None


def _summary(spec: RNNSpec, impl: str | None, named: Mapping[str, Any] | None = None) -> str:
    """A readable default name: the SPEC string, plus the example-input settings that differ."""
    extras = []
    if spec.lengths is not None:
        extras.append("lengths=" + ",".join(str(n) for n in spec.lengths))
    for key in ("batch", "seq_len", "unbatched", "seed"):
        value = getattr(spec, key)
        implied = spec.lengths is not None and (
            key == "batch" or (key == "seq_len" and value == max(spec.lengths))
        )
        if value != DEFAULTS[key] and not implied and not (key == "seq_len" and spec.cell.is_cell):
            extras.append(f"{key}={value}")
    extras += [f"{key}={_option_text(value)}" for key, value in (named or {}).items()]
    name = " ".join([spec.to_spec_string(), *extras])
    return f"{name} [{impl}]" if impl else name


def _unique_names(cases: list[Case]) -> list[Case]:
    """Every name once: a repeated one gets `` #2``, `` #3``, ..., never a name another case
    already has."""
    originals = {case.name for case in cases}
    used: set[str] = set()
    unique = []
    for case in cases:
        name = case.name
        count = 1
        while name in used:
            count += 1
            name = f"{case.name} #{count}"
            if name in originals:
                name = case.name  # taken by a case of its own: try the next number
        used.add(name)
        unique.append(case if name == case.name else replace(case, name=name))
    return unique


# ---------------------------------------------------------------------------------------------
# Running


def verify_case(case: Case, threads: int | None = None) -> CaseResult:
    """Verify one case, with ``threads`` torch threads available (by default as many as torch
    uses now; verify picks from them as :mod:`rnninspect.core.threads` says); an implementation that
    raised is the case's failure, not the run's."""
    from rnninspect.core.threads import torch_threads

    started = time.perf_counter()
    with torch_threads(threads):
        try:
            result = CaseResult(case, verify(case.spec, case.options), None, 0.0)
        except (ImplementationFailed, ImplError) as exc:
            result = CaseResult(case, None, str(exc), 0.0)
    return replace(result, seconds=time.perf_counter() - started)


def run_cases(
    cases: Sequence[Case],
    fail_fast: bool = False,
    allow_inconclusive: bool = False,
    progress: Callable[[int, Case], None] | None = None,
) -> Iterator[CaseResult]:
    """Verify each case in turn; with ``fail_fast``, stop after the first that does not pass."""
    for index, case in enumerate(cases):
        result = verify_case(case)
        if progress is not None:
            progress(index + 1, case)
        yield result
        if fail_fast and not result.passed(allow_inconclusive):
            return


def run_matrix(
    cases: list[Case],
    path: str,
    device: str = "cpu",
    dtype: str = "float32",
    fail_fast: bool = False,
    allow_inconclusive: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
) -> MatrixReport:
    """Verify every case, already validated by :func:`load` (and cut to ``shard``), in this
    process or in ``jobs`` workers."""
    import torch

    from rnninspect.commands.matrix.workers import run_in_workers

    report = MatrixReport(path, versions(torch.__version__), device, dtype, allow_inconclusive)
    report.jobs = jobs
    report.shard = None if shard is None else f"{shard[0]}/{shard[1]}"
    started = time.perf_counter()

    def tick(done: int, case: Case) -> None:
        if progress is not None:
            progress(done, len(cases), case.name)

    if jobs > 1 and len(cases) > 1:
        results = run_in_workers(verify_case, cases, jobs, fail_fast, allow_inconclusive, tick)
    else:
        results = run_cases(cases, fail_fast, allow_inconclusive, tick)
    report.results = list(results)
    report.skipped = cases[len(report.results) :]
    report.seconds = time.perf_counter() - started
    return report
