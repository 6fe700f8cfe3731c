"""Run trials in spawned worker processes that stream their reports back over pipes.

Each worker is started with the ``spawn`` context and receives the objective by value
(cloudpickle), so closures and lambdas from a script or notebook work. A worker runs tasks one
after another until told to stop (the messages: :mod:`tunesmith.runners.worker`). A group task
(:attr:`TrialTask.members`) takes one worker until all its members are done. A worker that dies
(killed, out of memory, segfault) ends its trial, or every unfinished member of its group, as an
error naming the exit code or signal; the next submit starts a replacement. Workers never open the
storage.

Limits (:class:`~tunesmith.runners.base.RunnerLimits`) are enforced from this side of the pipe,
where a stuck or bloated worker cannot interfere: a task running past ``trial_timeout`` (counted
from its hand-out; a group task's members share it, as one task) has its worker killed; a worker
whose resident memory (``/proc/PID/statm``, read every :data:`MEMORY_POLL_S`) goes past
``worker_memory_mb`` is killed and its trial fails naming memory; a worker is recycled after
``max_trials_per_worker`` trials (a group's members count one each, and a group is never split;
after every task when it holds a GPU share). Each worker on a GPU is created with
``CUDA_VISIBLE_DEVICES`` naming only its devices (:mod:`tunesmith.runners.devices`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.runners.base import (
    Decide,
    ObjectiveCall,
    Outcome,
    RunnerLimits,
    TrialTask,
    timeout_reason,
)
from tunesmith.runners.devices import GpuPool, visible_gpus
from tunesmith.runners.worker import ByValue, worker_main

log = logging.getLogger(__name__)

MEMORY_POLL_S = 0.1
_ENV_LOCK = threading.Lock()


def resident_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``), None when unreadable."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def describe_exit(code: int | None) -> str:
    """``killed by signal SIGKILL`` / ``exited with code 1``."""
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"killed by signal {name}{hint}"
    return f"exited with code {code}"


@contextlib.contextmanager
def _fileless_main_hidden() -> Iterator[None]:
    """Keep a spawned worker from re-running a ``__main__`` that has no real file.

    ``spawn`` re-runs the parent's main script in each child from ``__main__.__file__``. A script
    read from standard input (``python - <<EOF``) has ``__file__ == '<stdin>'``, which the child
    cannot open; the objective travels by value (cloudpickle), so the child needs no ``__main__``.
    While such a worker starts, ``__file__`` is hidden, as it is for ``python -c``.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(main, "__spec__", None) is not None or os.path.isfile(path):
        yield
        return
    del main.__file__  # type: ignore[union-attr]
    try:
        yield
    finally:
        main.__file__ = path  # type: ignore[union-attr]


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    devices: list[str]
    task: TrialTask | None = None
    handed_at: float = 0.0
    trials: int = 0
    pending: set[int] = field(default_factory=set)  # the task's trials not done yet

    def unfinished(self, error: str) -> list[Outcome]:
        """Its task's trials not done yet, each failed with ``error``."""
        if self.task is None:
            return []
        return [Outcome(k, "error", error=error) for k in self.task.keys if k in self.pending]


class LocalRunner:
    """Up to ``workers`` spawned processes; tasks wait in a queue for a free one."""

    def __init__(
        self, objective: ObjectiveCall, workers: int, limits: RunnerLimits | None = None
    ) -> None:
        import multiprocessing

        self._limits = limits or RunnerLimits()
        if self._limits.worker_memory_mb is not None and not os.path.exists("/proc/self/statm"):
            raise ConfigError(
                "study.worker_memory_mb needs Linux /proc to read worker memory; "
                f"got worker_memory_mb: {self._limits.worker_memory_mb} on {sys.platform}"
            )
        self._pool: GpuPool | None = None
        if self._limits.gpus_per_trial > 0:
            self._pool = GpuPool(visible_gpus(), self._limits.gpus_per_trial)
            if workers > self._pool.capacity:
                log.info(
                    "%d GPU slot(s) for %d workers: %d trials at a time",
                    self._pool.capacity,
                    workers,
                    self._pool.capacity,
                )
            workers = min(workers, self._pool.capacity)
        try:
            self._shipped = ByValue(objective)
        except Exception as exc:
            raise ConfigError(
                f"objective cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
                "use runner: inprocess (study.runner) for objectives that cannot be pickled"
            ) from None
        self.slots = workers
        self._threads = max(1, (os.cpu_count() or 1) // workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._queue: deque[TrialTask] = deque()
        self.started_workers = 0

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)
        self._dispatch()

    def _start_worker(self) -> _Worker | None:
        devices: list[str] = []
        if self._pool is not None:
            got = self._pool.acquire()
            if got is None:
                return None
            devices = got
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, self._shipped, self._threads),
            daemon=True,
            name="tunesmith-worker",
        )
        # The child's environment is copied when it is created: set before anything in it runs.
        with _ENV_LOCK, _fileless_main_hidden():
            saved = os.environ.get("CUDA_VISIBLE_DEVICES")
            if self._pool is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
            try:
                proc.start()
            finally:
                if self._pool is not None:
                    if saved is None:
                        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                    else:
                        os.environ["CUDA_VISIBLE_DEVICES"] = saved
        child.close()
        worker = _Worker(proc, parent, devices)
        self._workers.append(worker)
        self.started_workers += 1
        log.debug("started worker pid %s (devices %s)", proc.pid, devices or "none")
        return worker

    def _dispatch(self) -> None:
        while self._queue:
            idle = next((w for w in self._workers if w.task is None), None)
            if idle is None:
                if len(self._workers) >= self.slots:
                    return
                idle = self._start_worker()
                if idle is None:
                    return
            task = self._queue.popleft()
            idle.task = task
            idle.pending = set(task.keys)
            idle.handed_at = time.monotonic()
            # A worker that died before taking the task is noticed by its sentinel in wait().
            with contextlib.suppress(OSError):
                idle.conn.send(("run", task))

    def _poll_time(self, timeout: float) -> float:
        limits = self._limits
        if limits.worker_memory_mb is not None:
            timeout = min(timeout, MEMORY_POLL_S)
        if limits.trial_timeout is not None:
            now = time.monotonic()
            for w in self._workers:
                if w.task is not None:
                    left = w.handed_at + limits.trial_timeout - now
                    timeout = min(timeout, max(0.0, left) + 0.01)
        return timeout

    def wait(self, timeout: float, decide: Decide) -> list[Outcome]:
        """Handle messages and exits for up to ``timeout`` seconds; return finished trials."""
        self._dispatch()
        if not self._workers:
            return []
        deadline = time.monotonic() + timeout
        outcomes: list[Outcome] = []
        while True:
            by_conn = {w.conn: w for w in self._workers}
            by_sentinel = {w.proc.sentinel: w for w in self._workers}
            left = max(0.0, deadline - time.monotonic())
            ready = wait([*by_conn, *by_sentinel], self._poll_time(left))
            for conn in [r for r in ready if r in by_conn]:
                self._drain(by_conn[conn], decide, outcomes)  # type: ignore[index]
            for sentinel in [r for r in ready if r in by_sentinel]:
                worker = by_sentinel[sentinel]  # type: ignore[index]
                if worker in self._workers:
                    self._drain(worker, decide, outcomes)
                    self._bury(worker, outcomes)
            self._enforce(outcomes)
            self._dispatch()
            if outcomes or not self._workers or time.monotonic() >= deadline:
                return outcomes

    def _drain(self, worker: _Worker, decide: Decide, outcomes: list[Outcome]) -> None:
        try:
            while worker.conn.poll():
                msg = worker.conn.recv()
                if msg[0] == "report":
                    _, key, step, value = msg
                    worker.conn.send(("answer", bool(decide(key, step, value))))
                elif msg[0] == "done":
                    outcomes.append(msg[1])
                    worker.pending.discard(msg[1].key)
                    worker.trials += 1
                    if not worker.pending:  # a group's worker is free after its last member
                        worker.task = None
                        self._maybe_retire(worker)
                        return
        except (EOFError, OSError):
            pass

    def _maybe_retire(self, worker: _Worker) -> None:
        """Recycle a worker that has run its share of trials or holds too much memory."""
        period = self._limits.trials_per_worker
        over = self._memory_over(worker)
        if (period is None or worker.trials < period) and over is None:
            return
        why = over or f"ran {worker.trials} trial(s)"
        log.debug("recycling worker pid %s: %s", worker.proc.pid, why)
        with contextlib.suppress(OSError):
            worker.conn.send(("stop",))
        worker.proc.join(timeout=5)
        if worker.proc.is_alive():
            worker.proc.kill()
            worker.proc.join(timeout=5)
        self._remove(worker)

    def _memory_over(self, worker: _Worker) -> str | None:
        limit = self._limits.worker_memory_mb
        if limit is None:
            return None
        used = resident_mb(worker.proc.pid)
        if used is None or used <= limit:
            return None
        return f"worker memory {used:.0f} MB went past study.worker_memory_mb = {limit:g} MB"

    def _enforce(self, outcomes: list[Outcome]) -> None:
        """Kill workers whose trial ran past its time or whose memory went past its limit."""
        timeout = self._limits.trial_timeout
        now = time.monotonic()
        for worker in list(self._workers):
            reason = self._memory_over(worker)
            overdue = timeout is not None and now - worker.handed_at >= timeout
            if reason is None and worker.task is not None and overdue:
                reason = timeout_reason(timeout)  # type: ignore[arg-type]
            if reason is None:
                continue
            log.warning("worker pid %s killed: %s", worker.proc.pid, reason)
            worker.proc.kill()
            worker.proc.join(timeout=5)
            outcomes.extend(worker.unfinished(reason))
            self._remove(worker)

    def _remove(self, worker: _Worker) -> None:
        worker.conn.close()
        if self._pool is not None:
            self._pool.release(worker.devices)
        self._workers.remove(worker)

    def _bury(self, worker: _Worker, outcomes: list[Outcome]) -> None:
        worker.proc.join(timeout=5)
        reason = describe_exit(worker.proc.exitcode)
        if worker.task is not None:
            log.warning("worker pid %s %s", worker.proc.pid, reason)
            outcomes.extend(worker.unfinished(f"worker process {reason}"))
        self._remove(worker)

    def close(self) -> None:
        """Stop idle workers politely and kill busy ones."""
        for w in self._workers:
            try:
                if w.task is None:
                    w.conn.send(("stop",))
                else:
                    w.proc.kill()
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
            if self._pool is not None:
                self._pool.release(w.devices)
        self._workers.clear()
        self._queue.clear()
