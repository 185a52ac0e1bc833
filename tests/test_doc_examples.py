"""Every command the README and docs/ show runs as shown, and says what the docs say it says.

Commands are read from the fenced blocks (``$ rnninspect ...`` or ``rnninspect ...``); a command
followed by its output is compared with it line by line, except lines that name what varies from
machine to machine (the memory limit, timings). A comment after a command that names a verdict
(``# ... inconclusive``) is checked against the verdict verify gives. Commands that need CUDA or
a file of the reader's own are skipped, as are synopses (``[SPEC] [CONFIG]``).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from rnninspect.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VERDICTS = ("inconclusive", "pass", "fail")
#: What differs between machines, and what stands in for it: the memory this process may use,
#: timings, versions.
VARYING = [
    (re.compile(r"limit [\d.]+ ?[KMGT]?i?B"), "limit <memory>"),
    (re.compile(r"[\d.]+(e[-+]?\d+)? ms\b"), "<time> ms"),
    (re.compile(r"(torch|python) [\d.]+\S*"), r"\1 <version>"),
]


@dataclass
class Example:
    page: str
    line: int
    args: list[str]
    comment: str
    output: list[str] | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: rnninspect {' '.join(self.args)}"


def _examples() -> list[Example]:
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        inside = False
        i = 0
        while i < len(lines):
            text = lines[i]
            if text.startswith("```"):
                inside = not inside
                i += 1
                continue
            shown = text.startswith("$ rnninspect ")
            if inside and (shown or text.startswith("rnninspect ")):
                start = i
                command = text.removeprefix("$ ")
                while command.endswith("\\"):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                command, _, comment = command.partition("  #")
                output = None
                if shown:
                    output = []
                    while i + 1 < len(lines) and not lines[i + 1].startswith(("```", "$ ")):
                        i += 1
                        output.append(lines[i])
                    output = output or None
                args = shlex.split(command)[1:]
                found.append(Example(page.name, start + 1, args, comment.strip(), output))
            i += 1
    return found


EXAMPLES = _examples()


def _runnable(example: Example) -> str | None:
    """Why an example cannot run here, or None."""
    text = " ".join(example.args)
    if ("[" in text and "]" in text and "--" in text) or "COMMAND" in text or not example.args:
        return "a synopsis"
    if "cuda" in text:
        return "needs CUDA"
    for arg in example.args:
        own = re.search(r"\.(pt|py|toml|safetensors|npz|onnx|pt2|xml|keras|h5)(:\w+)?$", arg)
        if own or arg == "FILE":
            return f"needs the reader's own file {arg}"
    return None


def test_the_pages_hold_examples() -> None:
    assert len(EXAMPLES) > 20
    assert sum(1 for e in EXAMPLES if e.output) >= 4


def _slow(example: Example) -> bool:
    """ONNX exports and large backward benchmarks take seconds each: CI's slow step runs them."""
    text = " ".join(example.args)
    return "onnx" in text or (example.args[:1] == ["bench"] and "--backward" in text)


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, marks=pytest.mark.slow) if _slow(e) else e for e in EXAMPLES],
    ids=str,
)
def test_example_runs_as_shown(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = _runnable(example)
    if why:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)  # an example that writes (conformance --export) writes here
    result = CliRunner(env={"COLUMNS": "100"}).invoke(main, example.args)
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    if example.output:
        _same_text(example.output, result.stdout.splitlines(), example)
    claimed = [word for word in VERDICTS if word in example.comment]
    if claimed and example.args[0] == "verify":
        run = CliRunner().invoke(main, [*example.args, "--format", "json"])
        verdict = json.loads(run.stdout)["verdict"]
        assert verdict == claimed[0], f"{example} claims {claimed[0]}, gives {verdict}"


def _normal(line: str) -> str:
    for pattern, stand_in in VARYING:
        line = pattern.sub(stand_in, line)
    return " ".join(line.split())


def _same_text(shown: list[str], produced: list[str], example: Example) -> None:
    """Each line shown appears, in order, within a line printed (a page may show an excerpt);
    or, where the page wrapped lines at another width, the shown words appear together."""
    wanted = [_normal(line) for line in shown if line.strip()]
    printed = [_normal(line) for line in produced if line.strip()]
    position = 0
    for line in wanted:
        found = next((i for i in range(position, len(printed)) if line in printed[i]), None)
        if found is None:
            break
        position = found + 1
    else:
        return
    words, text = " ".join(wanted), " ".join(printed)
    assert words in text, f"{example}: the page shows\n{words}\n\nit printed\n{text}"


def test_the_convert_examples_run_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keras: object
) -> None:
    """The pages' ``convert`` commands, which read each other's files, run in the order shown
    from a folder holding the ``checkpoint.pt`` they start from."""
    import torch
    from torch import nn

    examples = [e for e in EXAMPLES if e.args[:1] == ["convert"] and _runnable(e) != "a synopsis"]
    assert examples
    monkeypatch.chdir(tmp_path)
    encoder = nn.LSTM(10, 20, num_layers=2)
    torch.save(
        {"model": {f"encoder.{k}": v for k, v in encoder.state_dict().items()}}, "checkpoint.pt"
    )
    for example in examples:
        result = CliRunner().invoke(main, example.args)
        assert result.exit_code == 0, (str(example), result.stderr)
