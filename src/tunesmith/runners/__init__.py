"""Runners: where trials run. None of them touches the storage; the coordinator does.

``RUNNERS`` maps the ``study.runner`` value to a factory ``(objective, workers) -> Runner``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunesmith.runners.base import (
    ObjectiveCall,
    Outcome,
    Runner,
    TrialPruned,
    TrialTask,
    as_objective_call,
)
from tunesmith.utils.registry import Registry


def _local(objective: ObjectiveCall, workers: int) -> Runner:
    from tunesmith.runners.local import LocalRunner

    return LocalRunner(objective, workers)


def _inprocess(objective: ObjectiveCall, workers: int) -> Runner:  # noqa: ARG001
    from tunesmith.runners.inprocess import InProcessRunner

    return InProcessRunner(objective)


def _ray(objective: ObjectiveCall, workers: int) -> Runner:
    from tunesmith.runners.ray import RayRunner

    return RayRunner(objective, workers)


RUNNERS: Registry[Callable[[ObjectiveCall, int], Runner]] = Registry(
    "runner", {"local": _local, "inprocess": _inprocess, "ray": _ray}
)


def create_runner(name: str, objective: Any, workers: int) -> Runner:
    """Build the runner called ``name``; an unknown name lists the known ones."""
    factory = RUNNERS.lookup(name, "study.runner")
    return factory(as_objective_call(objective), workers)


__all__ = [
    "RUNNERS",
    "ObjectiveCall",
    "Outcome",
    "Runner",
    "TrialPruned",
    "TrialTask",
    "as_objective_call",
    "create_runner",
]
