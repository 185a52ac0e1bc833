"""The one way the tests run the command line: click's runner over the real group, the exit code,
stdout and stderr kept apart, and stdout read as the command's JSON on demand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from rnninspect.cli import main


@dataclass(frozen=True)
class Invocation:
    """One run of ``rnninspect``: how it exited and what it wrote where."""

    code: int
    out: str
    err: str

    @property
    def document(self) -> dict[str, Any]:
        """stdout as the one JSON document ``--format json`` prints; empty where none was."""
        found: dict[str, Any] = json.loads(self.out) if self.out else {}
        return found


def invoke(*args: str | Path, env: Mapping[str, str] | None = None) -> Invocation:
    """``rnninspect ARGS`` in this process."""
    result = CliRunner(env=dict(env) if env else None).invoke(main, [str(a) for a in args])
    return Invocation(result.exit_code, result.stdout, result.stderr)
