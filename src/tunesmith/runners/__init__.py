"""Runners: where trials run. None of them touches the storage; the coordinator does.

``RUNNERS`` maps the ``study.runner`` value to a factory ``(objective, workers, limits) -> Runner``;
``limits`` (:class:`RunnerLimits`) carries the per-trial time, memory, recycling and GPU settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunesmith.runners.base import (
    ObjectiveCall,
    Outcome,
    Runner,
    RunnerLimits,
    TrialPruned,
    TrialTask,
    as_objective_call,
)
from tunesmith.utils.registry import Registry


def _local(objective: ObjectiveCall, workers: int, limits: RunnerLimits) -> Runner:
    from tunesmith.runners.local import LocalRunner

    return LocalRunner(objective, workers, limits)


def _inprocess(objective: ObjectiveCall, workers: int, limits: RunnerLimits) -> Runner:  # noqa: ARG001
    from tunesmith.runners.inprocess import InProcessRunner

    return InProcessRunner(objective)


def _ray(objective: ObjectiveCall, workers: int, limits: RunnerLimits) -> Runner:
    from tunesmith.runners.ray import RayRunner

    return RayRunner(objective, workers, limits)


RUNNERS: Registry[Callable[[ObjectiveCall, int, RunnerLimits], Runner]] = Registry(
    "runner", {"local": _local, "inprocess": _inprocess, "ray": _ray}
)


def create_runner(
    name: str, objective: Any, workers: int, limits: RunnerLimits | None = None
) -> Runner:
    """Build the runner called ``name``; an unknown name lists the known ones."""
    factory = RUNNERS.lookup(name, "study.runner")
    return factory(as_objective_call(objective), workers, limits or RunnerLimits())


def limits_of(config: Any) -> RunnerLimits:
    """The runner limits a ``StudyConfig`` sets."""
    return RunnerLimits(
        trial_timeout=config.trial_timeout,
        worker_memory_mb=config.worker_memory_mb,
        max_trials_per_worker=config.max_trials_per_worker,
        gpus_per_trial=config.gpus_per_trial,
        cpus_per_trial=config.cpus_per_trial,
        ray_address=config.ray_address,
    )


__all__ = [
    "RUNNERS",
    "ObjectiveCall",
    "Outcome",
    "Runner",
    "RunnerLimits",
    "TrialPruned",
    "TrialTask",
    "as_objective_call",
    "create_runner",
    "limits_of",
]
