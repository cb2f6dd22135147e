"""No import circle anywhere in the package, including the ones hidden behind a deferred import.

The graph is read from the source (``ast``), not from ``sys.modules``: an edge runs from a module to every
module of the package it imports, wherever the import statement is. Each edge keeps its kind, so a failure
says how the circle is closed:

* ``top``: runs when the module is imported (module level, class bodies, ``try``/``if`` blocks);
* ``deferred``: inside a function, runs on first call. A deferred import is fine for keeping a heavy or
  rarely used module out of a light one; one that closes a circle only hides it (it was the usual way the
  circles of issue 17 were kept working), so it counts the same;
* ``typing``: under ``if TYPE_CHECKING:``; never runs, but a circle there is the same knot in the design.

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; those implicit edges are left out (as
import-linter and pydeps do), else every package that re-exports a name of its own child would count.
A circle is broken by moving the shared piece down into a module both sides import (issue 17, item 4).
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import comfyui_model_library
from tests.package_files import package_files

PACKAGE = "comfyui_model_library"
ROOT = Path(comfyui_model_library.__file__).resolve().parent
NOT_THE_PACKAGE = {"tests", "bench", "docs", "web", "scripts", "node_modules"}


@dataclass(frozen=True)
class Edge:
    target: str
    kind: str  # "top" | "deferred" | "typing"
    where: str  # path:line of the import statement


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``): the shipped modules
    of this checkout, or every module of another tree (the self-checks' throwaway packages)."""
    found: dict[str, Path] = {}
    if root == ROOT:
        paths = package_files(root)
    else:
        paths = [p for p in sorted(root.rglob("*.py")) if p.relative_to(root).parts[0] not in NOT_THE_PACKAGE]
    for path in paths:
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    def __init__(self, name: str, path: Path, root: Path, modules: dict[str, Path]) -> None:
        self.name, self.modules = name, modules
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.where = path.relative_to(root).as_posix()
        self.in_function = self.in_typing = 0
        self.edges: list[Edge] = []

    def _add(self, target: str, node: ast.stmt) -> None:
        if target not in self.modules or target == self.name:
            return
        kind = "typing" if self.in_typing else "deferred" if self.in_function else "top"
        edge = Edge(target, kind, f"{self.where}:{node.lineno}")
        if edge not in self.edges:  # ``from .x import a, b`` is one edge
            self.edges.append(edge)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.in_function += 1
        self.generic_visit(node)
        self.in_function -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.in_typing += 1
        for child in node.body:
            self.visit(child)
        self.in_typing -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            self._add(submodule if submodule in self.modules else module, node)


def import_graph(root: Path, package: str) -> dict[str, list[Edge]]:
    modules = module_files(root, package)
    graph = {}
    for name, path in modules.items():
        visitor = _Imports(name, path, root, modules)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        graph[name] = visitor.edges
    return graph


def import_cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted({e.target for e in graph[start]})))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted({e.target for e in graph[target]}))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return sorted(groups)


def describe(graph: dict[str, list[Edge]], group: list[str]) -> str:
    members = set(group)
    lines = [f"import circle between {', '.join(group)}:"]
    for name in group:
        for edge in graph[name]:
            if edge.target in members:
                lines.append(f"  {name} -> {edge.target} ({edge.kind}, {edge.where})")
    return "\n".join(lines)


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph(ROOT, PACKAGE)
    found = import_cycles(graph)
    assert not found, "\n\n".join(describe(graph, group) for group in found)


def test_the_graph_sees_the_whole_package_and_every_kind_of_import() -> None:
    # Guards the guard: a walk that found no modules, or lost a kind of import, would pass the test above.
    graph = import_graph(ROOT, PACKAGE)
    assert {f"{PACKAGE}.core.io.fileops", f"{PACKAGE}.cli.main", f"{PACKAGE}._host"} <= graph.keys()
    assert not any(name.startswith(f"{PACKAGE}.tests") for name in graph)
    kinds = {(e.target, e.kind) for e in graph[f"{PACKAGE}.core.importer"]}
    assert (f"{PACKAGE}.core.importer.pipeline", "typing") in kinds
    assert (f"{PACKAGE}.core.importer.pipeline", "deferred") in kinds
    assert (f"{PACKAGE}.cli.commands", "top") in {(e.target, e.kind) for e in graph[f"{PACKAGE}.cli.main"]}


CLOSING_IMPORTS = {
    "top": "from .a import VALUE\n",
    "top, absolute, of a package's child": "import fake.a\n",
    "top, a module by name": "from . import a\n",
    "deferred": "def late():\n    from .a import VALUE\n    return VALUE\n",
    "deferred in a method": "class C:\n    def m(self):\n        from fake import a\n        return a\n",
    "typing": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import VALUE\n",
}


@pytest.mark.parametrize("closing", sorted(CLOSING_IMPORTS))
def test_a_circle_closed_by_any_kind_of_import_is_found(tmp_path: Path, closing: str) -> None:
    root = tmp_path / "fake"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from .sub.b import OTHER\nVALUE = 1\n")
    (root / "sub" / "b.py").write_text("from .. import c\nOTHER = 2\n")
    (root / "c.py").write_text(textwrap.dedent(CLOSING_IMPORTS[closing]))
    (root / "tests").mkdir()
    (root / "tests" / "t.py").write_text("from fake.a import VALUE\n")  # not part of the package
    graph = import_graph(root, "fake")
    assert import_cycles(graph) == [["fake.a", "fake.c", "fake.sub.b"]]
    assert "fake.c -> fake.a" in describe(graph, ["fake.a", "fake.c", "fake.sub.b"])


def test_a_package_importing_its_own_children_is_no_circle(tmp_path: Path) -> None:
    root = tmp_path / "fake"
    root.mkdir()
    (root / "__init__.py").write_text("from .a import VALUE\n")
    (root / "a.py").write_text("from .b import OTHER\nVALUE = OTHER\n")
    (root / "b.py").write_text("OTHER = 1\n")
    assert import_cycles(import_graph(root, "fake")) == []
