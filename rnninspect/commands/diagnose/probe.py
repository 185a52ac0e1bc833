"""torch's own verdict on the shapes given to ``rnninspect diagnose``: the real module run on
zeros of those shapes in a child process with a timeout, because some mismatches crash torch's
process outright (an LSTMCell given a 3-D state dies with SIGSEGV on torch 2.13). The child is
isolated (``python -I``) and kept for the next probe.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from rnninspect.model.spec import RNNSpec
from rnninspect.reports.diagnose import Shape

_PROBE = """
import json, sys
sys.path[:] = json.loads(sys.argv[1])
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

def verdict(args):
    module = getattr(nn, args["cls"])(**args["kwargs"])
    h0 = None if args["h0"] is None else torch.zeros(args["h0"])
    c0 = None if args["c0"] is None else torch.zeros(args["c0"])
    if h0 is not None and c0 is not None:
        state = (h0, c0)
    else:
        state = h0 if h0 is not None else c0
    try:
        x = torch.zeros(args["input"])
        if args["lengths"] is not None:
            first = args["kwargs"].get("batch_first", False)
            lengths = torch.tensor(args["lengths"])
            x = pack_padded_sequence(x, lengths, batch_first=first, enforce_sorted=False)
        with torch.no_grad():
            module(x) if state is None else module(x, state)
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    print(json.dumps({"error": verdict(json.loads(line))}), flush=True)
"""


@dataclass
class _Prober:
    """The child process that runs torch for diagnose, started once and kept for later calls
    (importing torch takes longer than any probe); replaced when it dies or hangs."""

    process: subprocess.Popen[str]
    script: str
    ready: bool = False

    @classmethod
    def launch(cls) -> _Prober:
        """Start the child; it imports torch while this process goes on."""
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _PROBE, json.dumps(_import_path())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        return cls(process, _PROBE)

    def ask(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self.ready:
            self.answer(timeout)  # torch imported: ready
            self.ready = True
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(args) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise _ProbeDied(self._ended()) from None
        return self.answer(timeout)

    def answer(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            self.process.wait()
            raise _ProbeDied(f"torch's probe did not finish within {timeout:g} s")
        line = self.process.stdout.readline()
        if not line:
            raise _ProbeDied(self._ended())
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ended(self) -> str:
        code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"torch's probe could not run: its process died with {name}"
        return f"torch's probe could not run (exit {code})"

    def alive(self) -> bool:
        return self.process.poll() is None and self.script == _PROBE


class _ProbeDied(Exception):
    pass


_prober: _Prober | None = None


def warm_up() -> None:
    """Start the child now, so that it imports torch while this process imports its own: on a
    machine with two cores the two imports overlap instead of adding up."""
    global _prober
    if _prober is None or not _prober.alive():
        _prober = _Prober.launch()


def _import_path() -> list[str]:
    """This process's import path without the current directory, for the isolated child."""
    here = os.getcwd()
    return [p for p in sys.path if p and os.path.abspath(p) != here]


def torch_verdict(
    spec: RNNSpec,
    input_shape: Shape,
    h0: Shape | None,
    c0: Shape | None,
    timeout: float = 60,
    lengths: tuple[int, ...] | None = None,
) -> tuple[bool, str | None]:
    """Run torch on zeros of these shapes in a child process: (whether it ran, its error; or
    why it could not run). The child is started once and asked again for later calls; one that
    died (some shapes crash torch's process) or hung is replaced.

    The child is isolated (``python -I``): neither the current directory nor PYTHON* variables
    reach its ``sys.path``, so a ``json.py`` or ``torch.py`` where the user stands never runs.
    It finds torch where this process found it: this process's own ``sys.path``, less the
    current directory, is handed over.
    """
    args = {
        "cls": spec.cell.torch_name,
        "kwargs": spec.constructor_kwargs(),
        "input": list(input_shape),
        "h0": None if h0 is None else list(h0),
        "c0": None if c0 is None else list(c0),
        "lengths": None if lengths is None else list(lengths),
    }
    global _prober
    try:
        if _prober is None or not _prober.alive():
            _prober = _Prober.launch()
        error = _prober.ask(args, timeout)["error"]
    except _ProbeDied as exc:
        _prober = None
        return False, str(exc)
    return True, None if error is None else " ".join(error.split())
