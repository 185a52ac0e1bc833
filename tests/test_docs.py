"""The documentation keeps up with the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rnninspect.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_command_and_option_is_in_cli_md() -> None:
    text = (DOCS / "cli.md").read_text()
    documented = set(re.findall(r"`(--?[a-z0-9-]+)", text))
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        assert f"## `rnninspect {name}`" in text, f"docs/cli.md has no section for {name}"
        command = main.get_command(ctx, name)
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                for flag in [*param.opts, *param.secondary_opts]:
                    assert flag in documented, f"docs/cli.md does not document {name} {flag}"


IMPL = str(Path(__file__).parent / "impls" / "manual.py") + ":LSTM"


@pytest.mark.parametrize(
    "args",
    [
        ["shapes", "--cell", "lstm"],
        ["verify", "--cell", "lstm", "--seq-len", "300", "--weight-scale", "4", "--impl", IMPL],
        [
            "bench",
            "--cell",
            "gru",
            "--backward",
            "--peak-gflops",
            "10",
            "--min-time",
            "0.01",
            "--sweep",
            "batch=1,2",
        ],
        ["matrix"],
        ["infer"],
        ["explain", "--cell", "lstm", "--bidirectional"],
        ["diagnose", "--cell", "lstm", "--input-shape", "5,3,10", "--h0-shape", "1,3,20"],
    ],
    ids=["shapes", "verify", "bench", "matrix", "infer", "explain", "diagnose"],
)
def test_every_json_key_is_in_json_md(args: list[str], tmp_path: Path) -> None:
    if args == ["matrix"]:
        path = tmp_path / "m.toml"
        wrong = IMPL.replace(":LSTM", ":LSTMOutputOff")
        cases = f'spec = "nn.LSTM(4, 8)"\nimpl = "{wrong}"\n[[case]]\nspec = "nn.GRU(4, 8)"'
        path.write_text(f"[[case]]\n{cases}\n")
        args = ["matrix", str(path), "--fail-fast"]
    if args == ["infer"]:
        import torch
        from torch import nn

        state = {f"a.{k}": v for k, v in nn.LSTM(2, 4).state_dict().items()}
        state["b.weight_ih_l0"] = torch.zeros(3, 2)  # a group with no weight_hh: inconsistent
        torch.save({"model": state}, tmp_path / "c.pt")
        args = ["infer", str(tmp_path / "c.pt")]
    _all_keys_described(json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout))


def _all_keys_described(doc: object) -> None:
    text = (DOCS / "json.md").read_text()

    def keys(value: object) -> set[str]:
        found: set[str] = set()
        if isinstance(value, dict):
            for key, item in value.items():
                found |= {key} | keys(item)
        elif isinstance(value, list):
            for item in value:
                found |= keys(item)
        return found

    for key in keys(doc):
        pattern = rf"`(?:[a-z_\[\]]+\.)?{key}`"
        assert re.search(pattern, text), f"docs/json.md does not describe the key {key}"


def test_every_keras_and_convert_json_key_is_in_json_md(tmp_path: Path, keras: object) -> None:
    import torch
    from torch import nn

    doc = CliRunner().invoke(main, ["keras", "nn.GRUCell(4, 8)", "--check", "--format", "json"])
    _all_keys_described(json.loads(doc.stdout))
    torch.save(nn.GRU(4, 8).state_dict(), tmp_path / "g.pt")
    args = ["convert", str(tmp_path / "g.pt"), "--to", "keras", "-o", str(tmp_path / "g.keras")]
    _all_keys_described(json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout))


def test_the_impl_constructor_calls_in_cli_md_are_the_ones_made() -> None:
    from rnninspect.model.spec import CellKind, make_spec

    text = (DOCS / "cli.md").read_text()
    for cell in CellKind:
        kwargs = make_spec(cell=cell).constructor_kwargs()
        call = "Name(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
        assert f"{cell.torch_name}:".ljust(11) + call in text, call


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "rnn_cell", "lstm_cell", "gru_cell"])
def test_an_impl_receives_exactly_those_keywords(cell: str, tmp_path: Path) -> None:
    from torch import nn

    import rnninspect
    from rnninspect.model.spec import make_spec

    seen = tmp_path / "seen.jsonl"  # the factory runs in verify's child process: it writes

    def factory(**kwargs: object) -> nn.Module:
        with seen.open("a") as record:
            record.write(json.dumps(kwargs) + "\n")
        return getattr(nn, make_spec(cell=cell).cell.torch_name)(**kwargs)

    assert rnninspect.verify(None, cell=cell, impl=factory).ok
    calls = [json.loads(line) for line in seen.read_text().splitlines()]
    assert calls == [make_spec(cell=cell).constructor_kwargs()]


def test_no_page_installs_rnninspect_from_an_index_that_does_not_serve_it() -> None:
    """rnninspect is installed from its repository or a checkout; a bare `pip install
    rnninspect` (as docs/ci.md's workflows once had) fails for every reader."""
    bare = re.compile(r"pip install(\s+-\S+)*\s+['\"]?rnninspect['\"]?(?!\s*@)(\s|$)")
    for page in [DOCS.parent / "README.md", *DOCS.glob("*.md")]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            assert not bare.search(line), f"{page.name}:{number}: {line.strip()}"
