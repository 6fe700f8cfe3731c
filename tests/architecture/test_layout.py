"""The package's shape (DESIGN.md §2): no import circles, and only ``storage/`` opens studies or
touches Optuna's private attributes, so an Optuna upgrade breaks one folder, loudly."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import grimp
import optuna

SRC = Path(__file__).resolve().parents[2] / "src" / "tunesmith"
STORAGE = SRC / "storage"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root)))))
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph.modules), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    imported = sorted(graph.find_modules_directly_imported_by(child))
                    work.append((child, iter(imported)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_cycle_finder_finds_a_circle() -> None:
    """The check itself can fail: a two-module circle built in memory is reported."""
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_no_module_is_part_of_an_import_circle() -> None:
    """Function-level and type-checking imports count: grimp records them all."""
    graph = grimp.build_graph("tunesmith")
    assert _cycles(graph) == []


def _python_files_outside_storage() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if STORAGE not in p.parents]


def _optuna_private_names() -> set[str]:
    """Every private attribute Optuna's own classes assign (``self._name = ...``)."""
    names: set[str] = set()
    for path in Path(optuna.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r"self\.(_[A-Za-z]\w*)\s*(?::[^=\n]*)?=", text))
    return {n for n in names if not n.startswith("__")}


def _private_uses(tree: ast.AST, private: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                yield node.lineno, node.attr
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in private
        ):
            yield node.lineno, str(node.args[1].value)


def test_optuna_private_attributes_are_used_only_in_storage() -> None:
    private = _optuna_private_names()
    assert {"_storage", "_study_id", "_trial_id", "_n_min_trials"} <= private  # the scan works
    hits = [
        f"{path.relative_to(SRC)}:{line}: {name}"
        for path in _python_files_outside_storage()
        for line, name in _private_uses(ast.parse(path.read_text(encoding="utf-8")), private)
    ]
    assert hits == []


def test_private_attribute_scan_sees_a_use() -> None:
    tree = ast.parse("x = study._storage\ny = getattr(sampler, '_n_min_trials', None)\n")
    assert [name for _, name in _private_uses(tree, {"_storage", "_n_min_trials"})] == [
        "_storage",
        "_n_min_trials",
    ]


def _study_openers(tree: ast.AST) -> Iterator[tuple[int, str]]:
    openers = {"create_study", "load_study", "delete_study", "copy_study"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in openers:
            yield node.lineno, node.attr
        if isinstance(node, ast.ImportFrom) and node.module == "optuna":
            for alias in node.names:
                if alias.name in openers:
                    yield node.lineno, alias.name


def test_only_storage_creates_or_loads_studies() -> None:
    hits = [
        f"{path.relative_to(SRC)}:{line}: {name}"
        for path in _python_files_outside_storage()
        for line, name in _study_openers(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert hits == []
    sample = "import optuna\ns = optuna.create_study()\nfrom optuna import load_study\n"
    assert sorted(name for _, name in _study_openers(ast.parse(sample))) == [
        "create_study",
        "load_study",
    ]


def test_the_training_loop_reads_in_at_most_80_lines() -> None:
    tree = ast.parse((SRC / "engine" / "loop.py").read_text(encoding="utf-8"))
    fit = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "fit")
    assert fit.end_lineno is not None and fit.end_lineno - fit.lineno + 1 <= 80
