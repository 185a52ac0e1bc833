"""Whether two checkouts give the same JSON for every command the docs show: the check behind a
change that should change no behaviour (a refactor), as issue #23 asks.

Runs each docs example (as tests/test_doc_examples.py reads them) with ``--format json`` under
each checkout's source tree, and compares the documents with what varies from run to run left
out (timings, the machine's load, versions, paths of temporary files).

    python benchmarks/docs_json_same.py OLD_CHECKOUT [NEW_CHECKOUT]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))

#: Keys whose values differ from run to run, whatever the code.
VARYING = {
    "timing",
    "machine",
    "seconds",
    "versions",
    "wall_seconds",
    "threads",
    "iqr_ms",
    "limit_bytes",  # a share of the memory free now
}


def _without_varying(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_varying(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [_without_varying(v) for v in value]
    return value


def _run(checkout: Path, args: list[str]) -> tuple[int, object]:
    done = subprocess.run(
        [sys.executable, "-m", "rnninspect", *args, "--format", "json"],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        document: object = _without_varying(json.loads(done.stdout))
    except json.JSONDecodeError:
        document = done.stderr.strip()
    return done.returncode, document


def main() -> None:
    from test_doc_examples import EXAMPLES, _runnable, _slow

    old = Path(sys.argv[1]).resolve()
    new = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else HERE
    differ = 0
    examples = [
        e for e in EXAMPLES if not _runnable(e) and not _slow(e) and "--format" not in e.args
    ]
    for example in examples:
        before, after = _run(old, example.args), _run(new, example.args)
        same = before == after
        differ += not same
        print(("same    " if same else "DIFFERS ") + " ".join(example.args))
    print(f"{len(examples) - differ} of {len(examples)} examples give the same JSON")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
