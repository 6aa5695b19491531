"""The apps' import graph, read from the source with ast: no circle, no upward import, other apps use the facades."""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: an app may import only the apps below it (the project, proctoring, wires them all together).
LAYERS = ["engagement", "monitor", "lti", "proctoring"]
# What another app may import of an app: its in-process facade, what a project mounts (URLs), and admin
# building blocks. The project (proctoring) wires everything and is not held to it.
FACADES = {
    "engagement": {"engagement.api", "engagement.urls", "engagement.admin"},
    "monitor": {"monitor.api", "monitor.urls"},
}
# Known exceptions, each to be removed by the change that fixes it (none may be added; none is left).
ALLOWED: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules a module imports, at any depth (functions included), except under TYPE_CHECKING."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def resolve(name: str) -> str | None:
        while name and name not in known:  # an attribute of a module (a class, a function): its module
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (resolve(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in known else resolve(base)
                if target:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: the project modules it imports} for every module of the apps and the project, migrations aside."""
    files = {}
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                files[_module_name(path)] = path
    known = set(files)
    return {module: _imports(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py", known)
            for module, path in files.items()}


def circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of the graph (modules in order, the first again at the end), or [] when there is none."""
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def _app(module: str) -> str:
    return module.split(".")[0]


def upward(graph: dict[str, set[str]]) -> set[str]:
    """Imports of an app from an app above it ("module -> target")."""
    return {f"{module} -> {target}" for module, targets in graph.items() for target in targets
            if LAYERS.index(_app(target)) > LAYERS.index(_app(module))}


def past_facades(graph: dict[str, set[str]]) -> set[str]:
    """Imports of another app's modules that are not its facade ("module -> target")."""
    return {f"{module} -> {target}" for module, targets in graph.items() for target in targets
            if _app(target) in FACADES and _app(module) not in (_app(target), "proctoring")
            and target not in FACADES[_app(target)]}


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_is_read(graph):
    """The reader finds what is there: relative, absolute and in-function imports, not TYPE_CHECKING ones."""
    assert "monitor.models" in graph["monitor.services"]  # from .models import ...
    assert "engagement.api" in graph["monitor.services"]  # from engagement.api import ...
    assert "engagement.api" in graph["monitor.tasks"]  # inside a function
    assert "monitor.presence" not in graph["monitor.broadcast"]  # only under TYPE_CHECKING


def test_no_import_circle(graph):
    assert circle(graph) == []


def test_no_upward_import(graph):
    assert upward(graph) - ALLOWED == set()


def test_other_apps_use_only_the_facades(graph):
    assert past_facades(graph) - ALLOWED == set()


def test_the_checks_find_a_circle_an_upward_import_and_a_bypassed_facade():
    bad = {"engagement.a": {"monitor.b"}, "monitor.b": {"engagement.a", "engagement.services"},
           "engagement.services": set()}
    assert set(circle(bad)) == {"engagement.a", "monitor.b"}
    assert upward(bad) == {"engagement.a -> monitor.b"}
    assert past_facades(bad) == {"engagement.a -> monitor.b", "monitor.b -> engagement.a",
                                 "monitor.b -> engagement.services"}
