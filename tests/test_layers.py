"""The architecture, checked: who may import whom (issues 11 and 12).

``bus`` (broker and redis plumbing), ``schemas``, ``models`` and ``store`` (the one door to SQL)
are the bottom; ``stream``, ``learner`` and ``web`` stand on them and import none of each other;
``ops`` is the top (CLI, demo, stack, bench) and nothing imports it. Only ``store`` imports
SQLAlchemy or Alembic. A package uses another only through the names of its ``__all__``, and no
package's modules import each other in a circle. The rules are read from the source with
``ast``, so an import inside a function (or under ``TYPE_CHECKING``) counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("stream", "learner", "web")
BOTTOM = ("bus", "schemas", "models", "store")
PACKAGES = (*SERVICES, *BOTTOM, "ops")
#: The SQL toolkits: only the store may import them.
SQL = ("sqlalchemy", "alembic")


def modules() -> Iterator[tuple[str, ast.Module]]:
    """(dotted module name, parsed source) of every module of the project's packages, except
    the Alembic revisions (generated, and inside ``store`` anyway)."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            yield module, ast.parse(path.read_text("utf-8"))


def imported(tree: ast.Module) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every absolute import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


def imports() -> set[tuple[str, str]]:
    """(importing module, imported project module) for every import in the project's packages."""
    edges: set[tuple[str, str]] = set()
    for module, tree in modules():
        for target, names in imported(tree):
            targets = [_target(target, name) for name in names] if names else [target]
            edges.update((module, t) for t in targets if t.split(".")[0] in PACKAGES)
    return edges


def _target(module: str, name: str) -> str:
    """``from store import queue`` imports the module store.queue."""
    submodule = REPO.joinpath(*module.split("."), f"{name}.py")
    return f"{module}.{name}" if submodule.is_file() else module


def package(module: str) -> str:
    return module.split(".")[0]


def test_nothing_imports_ops() -> None:
    offenders = sorted(e for e in imports() if package(e[1]) == "ops" and package(e[0]) != "ops")
    assert not offenders, f"ops is the top; move what these need below it: {offenders}"


@pytest.mark.parametrize("service", SERVICES)
def test_services_import_none_of_each_other(service: str) -> None:
    others = set(SERVICES) - {service}
    offenders = sorted(
        (src, dst) for src, dst in imports() if package(src) == service and package(dst) in others
    )
    assert not offenders, f"{service} must reach the others through bus/schemas: {offenders}"


@pytest.mark.parametrize("bottom", BOTTOM)
def test_the_bottom_imports_no_service(bottom: str) -> None:
    above = {*SERVICES, "ops"}
    offenders = sorted(
        (src, dst) for src, dst in imports() if package(src) == bottom and package(dst) in above
    )
    assert not offenders, f"{bottom} is below the services: {offenders}"


def test_only_the_store_imports_sql() -> None:
    """The web (and everything else) reaches SQL through ``store.Store``; no exceptions."""
    offenders = sorted(
        (module, target)
        for module, tree in modules()
        if package(module) != "store"
        for target, _names in imported(tree)
        if target.split(".")[0] in SQL
    )
    assert not offenders, f"only store may import {SQL}; add a Store method instead: {offenders}"


@pytest.mark.parametrize("face_of", PACKAGES)
def test_others_use_only_the_face_of_a_package(face_of: str) -> None:
    """``from models import NAME`` with NAME in ``models.__all__``; never ``models.train`` & co.

    A package's ``__init__`` says what the others may use; everything else is its own to change.
    """
    face = set(getattr(importlib.import_module(face_of), "__all__", ()))  # none: web, ops
    offenders = sorted(
        (module, target, name)
        for module, tree in modules()
        if package(module) != face_of
        for target, names in imported(tree)
        if target.split(".")[0] == face_of
        for name in (names or [f"<import {target}>"])
        if target != face_of or name not in face
    )
    assert not offenders, f"import only {face_of}.__all__ names from {face_of}: {offenders}"


@pytest.mark.parametrize("top", PACKAGES)
def test_no_import_cycle_inside_a_package(top: str) -> None:
    graph: dict[str, set[str]] = {}
    for src, dst in imports():
        if package(src) == top and package(dst) == top and src != dst:
            graph.setdefault(src, set()).add(dst)
    cycle = _cycle(graph)
    assert cycle is None, f"modules of {top} import each other in a circle: {' -> '.join(cycle)}"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path that ends where it starts), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found is not None:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found is not None:
            return found
    return None
