"""Run trials as Ray tasks; Ray is a launcher, the coordinator keeps the loop and the storage.

Each trial is one Ray task (``num_cpus``/``num_gpus`` per trial); a group task
(:attr:`TrialTask.members`) is one Ray task that returns every member's outcome. Intermediate
reports go through a small threaded "mailbox" actor: the task calls ``mailbox.report`` and blocks
until the coordinator, which collects reports in :meth:`RayRunner.wait`, posts the prune/continue
answer. Ray tasks never open the storage. A task whose worker dies ends its trial (each of its
trials) as an error naming Ray's reason; a task lost with its node (the node left the cluster) is
marked ``lost``, so the coordinator fails it and queues its parameters again once.

Where Ray runs: with ``study.ray_address`` (``--ray-address``) the runner joins that cluster;
without one it starts a Ray of its own on loopback (``address="local"``), never joining a cluster
that an earlier ``ray start`` registered on the machine. Limits under Ray: ``cpus_per_trial`` and
``gpus_per_trial`` are the task's Ray resources, ``trial_timeout`` cancels the task (force; a
group's task as a whole, failing every member), ``max_trials_per_worker`` is the task's
``max_calls`` (Ray's default of one call per worker process for GPU tasks returns GPU memory
between trials). ``worker_memory_mb`` is refused at
config time: Ray's own memory monitor bounds its workers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

from tunesmith.errors import TunesmithError, require
from tunesmith.runners.base import (
    Decide,
    ObjectiveCall,
    Outcome,
    ReporterBase,
    RunnerLimits,
    TrialTask,
    timeout_reason,
)

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


def run_remote(objective: ObjectiveCall, task: TrialTask, mailbox: Any) -> list[Outcome]:
    """Body of the Ray task for one trial or one group: the outcome of each."""
    from tunesmith.runners.base import execute_group, execute_trial

    if task.members:
        reporters: list[ReporterBase] = [_RayReporter(t.key, mailbox) for t in task.members]
        return execute_group(objective, task, reporters)
    return [execute_trial(objective, task, _RayReporter(task.key, mailbox))]


class RayRunner:
    """Up to ``workers`` trials at a time as Ray tasks on the given (or a local) cluster."""

    def __init__(
        self, objective: ObjectiveCall, workers: int, limits: RunnerLimits | None = None
    ) -> None:
        # Ray reads this when it is imported: set it first, or Ray binds the external address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray: Any = require("ray", "ray", "the ray runner")
        self._limits = limits or RunnerLimits()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            if self._limits.ray_address:
                try:
                    ray.init(
                        address=self._limits.ray_address,
                        include_dashboard=False,
                        log_to_driver=True,
                    )
                except ConnectionError as exc:
                    raise TunesmithError(
                        f"study.ray_address: cannot reach a Ray cluster at "
                        f"{self._limits.ray_address!r} ({exc})"
                    ) from None
            else:
                ray.init(
                    address="local",
                    include_dashboard=False,
                    log_to_driver=True,
                    _node_ip_address="127.0.0.1",
                )
        self._ray = ray
        self.slots = workers
        self._nodes_at_start = self._alive_nodes()
        here = ray.get_runtime_context().get_node_id()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # The mailbox lives beside the driver: losing another node never loses the reports.
        self._mailbox = (
            ray.remote(Mailbox)
            .options(
                max_concurrency=max(8, 2 * workers),
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
            )
            .remote()
        )
        options: dict[str, Any] = {
            "num_cpus": self._limits.cpus_per_trial or 1,
            "num_gpus": self._limits.gpus_per_trial,
            "max_retries": 0,
        }
        if self._limits.max_trials_per_worker is not None:
            options["max_calls"] = self._limits.max_trials_per_worker
        self._task = ray.remote(**options)(run_remote)
        self._objective = ray.put(objective)
        self._queue: deque[TrialTask] = deque()
        self._running: dict[Any, TrialTask] = {}
        self._started: dict[Any, float] = {}

    def _alive_nodes(self) -> int:
        return sum(bool(n.get("Alive")) for n in self._ray.nodes())

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.slots:
            task = self._queue.popleft()
            ref = self._task.remote(self._objective, task, self._mailbox)
            self._running[ref] = task
            self._started[ref] = time.monotonic()

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
                    outcomes.extend(self._collect(ref))
                outcomes.extend(self._cancel_overdue())
            else:
                time.sleep(POLL_S)
            if outcomes or time.monotonic() >= deadline:
                break
        self._dispatch()
        return outcomes

    def _cancel_overdue(self) -> list[Outcome]:
        timeout = self._limits.trial_timeout
        if timeout is None:
            return []
        now = time.monotonic()
        out: list[Outcome] = []
        for ref in [r for r, t in self._started.items() if now - t >= timeout]:
            task = self._running.pop(ref)
            self._started.pop(ref, None)
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # pragma: no cover - already finished
                log.debug("cancel failed: %s", exc)
            out.extend(Outcome(k, "error", error=timeout_reason(timeout)) for k in task.keys)
        return out

    def _collect(self, ref: Any) -> list[Outcome]:
        task = self._running.pop(ref)
        self._started.pop(ref, None)
        try:
            return list(self._ray.get(ref))
        except Exception as exc:  # the task's worker died or Ray failed it
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            error = f"ray task failed: {type(exc).__name__}: {reason}"
            lost = self._node_lost(exc)
            if lost:
                error = f"node lost: {error}"
            return [Outcome(k, "error", error=error, lost=lost) for k in task.keys]

    def _node_lost(self, exc: Exception) -> bool:
        """Whether the task failed because its node left (not because of the trial itself)."""
        from ray import exceptions as rex

        if isinstance(exc, (rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError)):
            return True
        if isinstance(exc, (rex.WorkerCrashedError, rex.RayTaskError)) or "node" in str(exc):
            return self._alive_nodes() < self._nodes_at_start
        return False

    def close(self) -> None:
        for ref in list(self._running):
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # pragma: no cover - best effort
                log.debug("cancel failed: %s", exc)
        self._running.clear()
        self._started.clear()
        self._queue.clear()
        try:
            self._ray.kill(self._mailbox)
        except Exception:  # pragma: no cover
            log.debug("mailbox already gone")
        if self._owns_ray:
            self._ray.shutdown()
