"""Run trials as Ray tasks; Ray is a launcher, the coordinator keeps the loop and the storage.

Each trial is one Ray task (``num_cpus``/``num_gpus`` per trial). Intermediate reports go through a
small threaded "mailbox" actor: the task calls ``mailbox.report`` and blocks until the coordinator,
which collects reports in :meth:`RayRunner.wait`, posts the prune/continue answer. Ray tasks never
open the storage. A task whose worker dies ends its trial as an error naming Ray's reason.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

from tunesmith.errors import require
from tunesmith.runners.base import Decide, ObjectiveCall, Outcome, ReporterBase, TrialTask

log = logging.getLogger(__name__)

POLL_S = 0.05


class Mailbox:
    """Actor body: reports waiting for the coordinator, and the answers it posts back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: list[tuple[int, int, float]] = []
        self._answers: dict[tuple[int, int], bool] = {}
        self._events: dict[tuple[int, int], threading.Event] = {}

    def report(self, key: int, step: int, value: float) -> bool:
        event = threading.Event()
        with self._lock:
            self._events[(key, step)] = event
            self._reports.append((key, step, value))
        event.wait()
        with self._lock:
            self._events.pop((key, step), None)
            return self._answers.pop((key, step))

    def take(self) -> list[tuple[int, int, float]]:
        with self._lock:
            out, self._reports = self._reports, []
        return out

    def answer(self, key: int, step: int, prune: bool) -> None:
        with self._lock:
            self._answers[(key, step)] = prune
            event = self._events.get((key, step))
        if event is not None:
            event.set()


class _RayReporter(ReporterBase):
    def __init__(self, key: int, mailbox: Any) -> None:
        super().__init__(key)
        self._mailbox = mailbox

    def _ask(self, step: int, value: float) -> bool:
        import ray

        return bool(ray.get(self._mailbox.report.remote(self.key, step, value)))


def run_remote(objective: ObjectiveCall, task: TrialTask, mailbox: Any) -> Outcome:
    """Body of the Ray task for one trial."""
    from tunesmith.runners.base import execute_trial

    return execute_trial(objective, task, _RayReporter(task.key, mailbox))


class RayRunner:
    """Up to ``workers`` trials at a time as Ray tasks on the connected (or a local) cluster."""

    def __init__(
        self, objective: ObjectiveCall, workers: int, num_cpus: float = 1, num_gpus: float = 0
    ) -> None:
        # Ray reads this when it is imported: set it first, or Ray binds the external address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray: Any = require("ray", "ray", "the ray runner")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=True,
                _node_ip_address="127.0.0.1",
            )
        self._ray = ray
        self.slots = workers
        self._mailbox = ray.remote(Mailbox).options(max_concurrency=max(8, 2 * workers)).remote()
        self._task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(run_remote)
        self._objective = ray.put(objective)
        self._queue: deque[TrialTask] = deque()
        self._running: dict[Any, int] = {}

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.slots:
            task = self._queue.popleft()
            ref = self._task.remote(self._objective, task, self._mailbox)
            self._running[ref] = task.key

    def wait(self, timeout: float, decide: Decide) -> list[Outcome]:
        ray = self._ray
        deadline = time.monotonic() + timeout
        outcomes: list[Outcome] = []
        while True:
            for key, step, value in ray.get(self._mailbox.take.remote()):
                self._mailbox.answer.remote(key, step, bool(decide(key, step, value)))
            if self._running:
                ready, _ = ray.wait(list(self._running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    outcomes.append(self._collect(ref))
            else:
                time.sleep(POLL_S)
            if outcomes or time.monotonic() >= deadline:
                break
        self._dispatch()
        return outcomes

    def _collect(self, ref: Any) -> Outcome:
        key = self._running.pop(ref)
        try:
            return self._ray.get(ref)  # type: ignore[no-any-return]
        except Exception as exc:  # the task's worker died or Ray failed it
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            return Outcome(key, "error", error=f"ray task failed: {type(exc).__name__}: {reason}")

    def close(self) -> None:
        for ref in list(self._running):
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # pragma: no cover - best effort
                log.debug("cancel failed: %s", exc)
        self._running.clear()
        self._queue.clear()
        try:
            self._ray.kill(self._mailbox)
        except Exception:  # pragma: no cover
            log.debug("mailbox already gone")
        if self._owns_ray:
            self._ray.shutdown()
