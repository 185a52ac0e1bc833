"""The layout docs/architecture.md describes: imports form no circle, and no module grows past
500 lines. Imports are read from the source (module level, inside functions and under
``TYPE_CHECKING`` alike), so a circle hidden in a lazy import is found too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rnninspect"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                found = resolve(target) if target.startswith("rnninspect") else None
                # the package itself (``from rnninspect import __version__``) sits above all
                if found and found != name and found != "rnninspect":
                    graph[name].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_imports_form_no_circle() -> None:
    graph = import_graph()
    assert "rnninspect.reports.verify" in graph and graph["rnninspect.cli"]
    assert circles(graph) == []


def test_a_circle_would_be_found() -> None:
    graph = import_graph()
    graph["rnninspect.model.spec"] = graph["rnninspect.model.spec"] | {"rnninspect.cli"}
    assert circles(graph)


#: The layers, lowest first: a module imports only from a lower layer, or from its own folder.
#: ``commands`` and ``render`` share a rank: an engine never shows, a view never computes.
RANKS = {
    "base": 0,
    "model": 1,
    "reference": 2,
    "files": 3,
    "core": 4,
    "reports": 5,
    "commands": 6,
    "render": 6,
    "api": 7,
    "testing": 8,
    "cli": 9,
    "entry": 10,
    "__main__": 11,
}


def layer(module: str) -> str:
    """``rnninspect.core.runtimes.onnx`` is in layer ``core``."""
    return module.split(".")[1]


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every import that does not go down: to a higher layer, or sideways to another folder of
    the same rank."""
    found = []
    for name, imported in graph.items():
        if name == "rnninspect":
            continue
        for target in imported:
            mine, theirs = layer(name), layer(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine]:
                found.append((name, target))
    return sorted(found)


def test_every_module_is_in_a_ranked_layer() -> None:
    assert {layer(name) for name in import_graph() if name != "rnninspect"} == set(RANKS)


def test_every_import_goes_down_the_layers() -> None:
    """The folders are the layers (docs/architecture.md): reports import no engine, views
    compute nothing, the core knows no command."""
    assert upward(import_graph()) == []


def test_an_upward_import_would_be_found() -> None:
    graph = import_graph()
    graph["rnninspect.reports.verify"] |= {"rnninspect.commands.verify.verification"}
    graph["rnninspect.core.parity"] |= {"rnninspect.render.common"}
    assert upward(graph) == [
        ("rnninspect.core.parity", "rnninspect.render.common"),
        ("rnninspect.reports.verify", "rnninspect.commands.verify.verification"),
    ]


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_benchmark_script_imports() -> None:
    """The scripts behind docs/performance.md import what they use from where it now lives
    (their main() runs only as a script)."""
    import importlib.util

    folder = PACKAGE.parent / "benchmarks"
    scripts = sorted(folder.glob("*.py"))
    assert scripts
    for path in scripts:
        spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_verdict_vocabulary_orders_and_accepts_as_the_contract_says() -> None:
    from rnninspect.model.verdict import Verdict

    assert Verdict.worst([]) == "pass" and Verdict.worst(["pass", "inconclusive"]) == "inconclusive"
    assert Verdict.worst(["inconclusive", "fail", "pass"]) == "fail"
    assert Verdict.accepted("pass", False) and not Verdict.accepted("inconclusive", False)
    assert Verdict.accepted("inconclusive", True) and not Verdict.accepted("fail", True)
