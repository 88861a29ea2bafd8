"""kgraph's modules import each other without cycles.

The import graph is read from the source with :mod:`ast` (nothing is imported), over every
``import`` statement a module can execute: at module scope and inside functions alike, so a
cycle cannot hide behind a function-local import. Imports under ``if TYPE_CHECKING:`` never run
and are not counted. Two rules:

- **modules**: no module depends on itself through any chain of imports;
- **packages** (kgraph's top-level modules and subpackages: ``kgraph.store``, ``kgraph.sparql``,
  ``kgraph.bootstrap``, ``kgraph.ingest``, ...): what a package imports when it is imported
  (module scope) forms layers, so no package needs another that needs it back. A function may
  still reach a higher package at call time (a process entry point such as the store's writer
  runs the bootstrap), as long as the module rule holds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "kgraph"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    #: Executed when the module is imported (not inside a function or class body's method).
    at_import: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST, at_import: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements under ``node`` that can run, with whether they run at import time."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, at_import
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from _imports(ast.Module(body=child.orelse, type_ignores=[]), at_import)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(child, False)
        else:
            yield from _imports(child, at_import)


def import_graph() -> tuple[set[str], list[Edge]]:
    """Every kgraph module, and every import of one kgraph module by another."""
    files = {module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}
    edges: list[Edge] = []
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for stmt, at_import in _imports(tree, True):
            if isinstance(stmt, ast.Import):
                targets = [alias.name for alias in stmt.names]
            else:
                if stmt.level:
                    base = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                    source = ".".join(base + ([stmt.module] if stmt.module else []))
                else:
                    source = stmt.module or ""
                # ``from pkg import mod`` depends on the module; ``from pkg import name`` on pkg.
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in files else source
                           for a in stmt.names]
            for target in targets:
                while target and target not in files:  # ``import kgraph.x.y`` of a name in x
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.append(Edge(name, target, stmt.lineno, at_import))
    return set(files), edges


def find_cycle(nodes: set[str], edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(nodes):
        if node not in state and (found := visit(node)):
            return found
    return None


def unit(module: str) -> str:
    """The top-level module or subpackage of kgraph a module belongs to."""
    return ".".join(module.split(".")[:2])


def _explain(cycle: list[str], edges: list[Edge], key: object) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        where = sorted({f"{e.source}:{e.line}" for e in edges
                        if key(e.source) == a and key(e.target) == b})
        steps.append(f"{a} -> {b} ({', '.join(where)})")
    return "\n".join(steps)


GRAPH = import_graph()


def test_the_graph_is_read() -> None:
    """The reader finds the imports it is meant to judge (so an empty graph cannot pass)."""
    nodes, edges = GRAPH
    assert {"kgraph.store.base", "kgraph.sparql.protocol", "kgraph.bootstrap"} <= nodes
    pairs = {(e.source, e.target, e.at_import) for e in edges}
    assert ("kgraph.sparql.protocol", "kgraph.store.base", True) in pairs
    assert ("kgraph.bootstrap", "kgraph.ingest", False) in pairs  # a function-local import


def test_no_module_imports_itself_through_others() -> None:
    nodes, edges = GRAPH
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    cycle = find_cycle(nodes, graph)
    assert cycle is None, "import cycle between modules:\n" + _explain(cycle, edges, str)


def test_packages_are_layered_at_import_time() -> None:
    nodes, edges = GRAPH
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.at_import and unit(e.source) != unit(e.target):
            graph.setdefault(unit(e.source), set()).add(unit(e.target))
    cycle = find_cycle({unit(n) for n in nodes}, graph)
    assert cycle is None, "import cycle between packages:\n" + _explain(
        cycle, [e for e in edges if e.at_import], unit)


@pytest.mark.parametrize(("lower", "upper"), [
    ("kgraph.store", "kgraph.sparql"),
    ("kgraph.ingest", "kgraph.bootstrap"),
])
def test_the_cycles_of_issue_13_stay_broken(lower: str, upper: str) -> None:
    """The engines never import the protocol layer, and ingestion never imports the
    bootstrap, by any import (function-local ones included)."""
    _, edges = GRAPH
    back = sorted({f"{e.source}:{e.line} -> {e.target}" for e in edges
                   if unit(e.source) == lower and unit(e.target) == upper})
    assert not back, f"{lower} imports {upper}: {back}"


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a", "b", "c"}, {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a", "b", "c"}, {"a": {"b", "c"}, "b": {"c"}}) is None
