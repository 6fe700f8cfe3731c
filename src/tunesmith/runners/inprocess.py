"""Run trials inside the coordinator process, one task (a trial, or a group of trials) at a time.

For objectives that cannot travel to another process (open handles, unpicklable state) and for
quick in-memory searches (``TuneSearchCV`` with one job). A crash here ends the study, which is
why worker processes are the default.
"""

from __future__ import annotations

from collections import deque

from tunesmith.runners.base import (
    CallbackReporter,
    Decide,
    ObjectiveCall,
    Outcome,
    ReporterBase,
    TrialTask,
)


class InProcessRunner:
    """Runs each submitted task when :meth:`wait` is called."""

    slots = 1

    def __init__(self, objective: ObjectiveCall) -> None:
        self._objective = objective
        self._queue: deque[TrialTask] = deque()

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)

    def wait(self, timeout: float, decide: Decide) -> list[Outcome]:  # noqa: ARG002
        from tunesmith.runners.base import execute_group, execute_trial

        if not self._queue:
            return []
        task = self._queue.popleft()
        if task.members:
            reporters: list[ReporterBase] = [CallbackReporter(t.key, decide) for t in task.members]
            return execute_group(self._objective, task, reporters)
        return [execute_trial(self._objective, task, CallbackReporter(task.key, decide))]

    def close(self) -> None:
        self._queue.clear()
