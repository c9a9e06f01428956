"""The layering, read from the imports (docs/architecture.md, "Import rules").

Every ``import`` and ``from … import`` of ``src/tensorgate`` counts, those inside
functions too: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tensorgate.engine

SRC = Path(__file__).resolve().parent.parent / "src"

#: The doors: adapters over the engine that must not reach below it.
DOORS = ("server", "grpc", "jobs", "client", "serverless")

#: What a door may import besides its own package and the other doors.
ALLOWED = {
    "tensorgate.engine",  # only the names in engine.__all__ (checked below)
    "tensorgate.protocol",  # and its modules
    "tensorgate.errors",
    "tensorgate.types",
    "tensorgate.config",
    "tensorgate.sources",  # the package's public names, not its modules
    "tensorgate.tasks",  # the task table
    "tensorgate.tasks.results",  # the answer types every door renders
    "tensorgate.access",  # the token policy both network doors apply
    "tensorgate.logs",  # structured log lines
    "tensorgate.timing",  # a request's stages, gathered for the door that asked
    "tensorgate.tracing",  # its spans
    "tensorgate._version",
}


@dataclass(frozen=True, slots=True)
class Edge:
    """One import: ``source`` (a module) imports ``target`` (a module or a name in it)."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int


def module_names() -> dict[str, Path]:
    found = {}
    for path in (SRC / "tensorgate").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def edges_of(module: str, source: str) -> Iterator[Edge]:
    """Every tensorgate import in ``source``, at any depth of the syntax tree."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tensorgate":
                    yield Edge(module, alias.name, (), node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "tensorgate"
        ):
            names = tuple(a.name for a in node.names)
            yield Edge(module, node.module, names, node.lineno)


def resolve(target: str, modules: dict[str, Path]) -> str:
    while target not in modules:
        target = target.rpartition(".")[0]
    return target


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    out: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for edge in edges_of(module, path.read_text(encoding="utf-8")):
            targets = [f"{edge.target}.{n}" for n in edge.names] or [edge.target]
            for target in targets:
                resolved = resolve(target, modules)
                if resolved != module:
                    out[module].add(resolved)
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def door_violations(module: str, source: str, modules: dict[str, Path]) -> list[str]:
    """The imports of a door module that break the rules, as readable lines."""
    public = set(tensorgate.engine.__all__)
    bad = []
    for edge in edges_of(module, source):
        parts = edge.target.split(".")
        where = f"{module}:{edge.line} imports {edge.target}"
        if len(parts) > 1 and parts[1] in DOORS:
            continue  # its own package, or another door
        if edge.target == "tensorgate":
            if set(edge.names) - {"__version__"}:
                bad.append(f"{where} ({', '.join(edge.names)})")
            continue
        if edge.target == "tensorgate.engine":
            hidden = sorted(set(edge.names) - public)
            if hidden:
                bad.append(f"{where}: {', '.join(hidden)} not in engine.__all__")
            continue
        if edge.target.startswith("tensorgate.protocol"):
            continue
        if edge.target not in ALLOWED:
            bad.append(where)
    return bad


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(graph(module_names())) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


@pytest.mark.parametrize("door", DOORS)
def test_doors_use_only_the_engine_surface(door: str) -> None:
    modules = module_names()
    bad = [
        line
        for module, path in sorted(modules.items())
        if module.split(".")[1:2] == [door]
        for line in door_violations(module, path.read_text(encoding="utf-8"), modules)
    ]
    assert bad == []


def test_the_door_rule_catches_reaching_into_internals() -> None:
    source = (
        "from tensorgate.registry import LoadedModel\n"
        "from tensorgate.engine import Engine, _view\n"
        "def f():\n"
        "    import tensorgate.batching.batcher\n"
        "from tensorgate.errors import ImageError\n"
    )
    assert door_violations("tensorgate.server.x", source, module_names()) == [
        "tensorgate.server.x:1 imports tensorgate.registry",
        "tensorgate.server.x:2 imports tensorgate.engine: _view not in engine.__all__",
        "tensorgate.server.x:4 imports tensorgate.batching.batcher",
    ]
