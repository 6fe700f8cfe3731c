"""No module of tunesmith takes part in an import circle, not even through an import made only for
type checking (DESIGN §2). Circles inside ``experiment`` and ``cli`` are their owners' to break;
this test covers every other package."""

from __future__ import annotations

import pytest

EXEMPT = ("tunesmith.experiment", "tunesmith.cli")


def _circles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
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


def test_no_import_circles_outside_experiment_and_cli():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("tunesmith")
    circles = [c for c in _circles(graph) if not all(m.startswith(EXEMPT) for m in c)]
    assert circles == []
