"""The worker process side of the local runner: how the objective travels, and the worker loop.

A worker receives ``("run", TrialTask)`` and answers each intermediate report with a
``("report", key, step, value)`` message (the coordinator sends ``("answer", prune)`` back), then
one ``("done", Outcome)`` per trial: a group task (:attr:`TrialTask.members`) sends one per
member, and the worker takes the next task only after the whole group. ``("stop",)`` ends it.
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from tunesmith.runners.base import ObjectiveCall, Outcome, ReporterBase, TrialTask


class ByValue:
    """Carries an object through multiprocessing's pickler by value, using cloudpickle.

    The bytes go from this process to its own child over a private pipe (the same trust as every
    multiprocessing message); the child rebuilds the object with ``cloudpickle.loads``.
    """

    def __init__(self, obj: Any) -> None:
        import cloudpickle

        self.payload = cloudpickle.dumps(obj)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        import cloudpickle

        return (cloudpickle.loads, (self.payload,))


class PipeReporter(ReporterBase):
    def __init__(self, key: int, conn: Connection) -> None:
        super().__init__(key)
        self._conn = conn

    def _ask(self, step: int, value: float) -> bool:
        self._conn.send(("report", self.key, step, value))
        msg = self._conn.recv()
        return bool(msg[1])


def limit_threads(threads: int) -> None:
    """Give this worker its share of the cores, unless the user set OMP_NUM_THREADS.

    N workers each running torch's default (one thread per core) would ask for N× the cores and
    slow each other down; the share is set before torch is imported where possible.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def worker_main(conn: Connection, objective: ObjectiveCall, threads: int = 0) -> None:
    """The loop of one worker process (module-level so that spawn can import it)."""
    from tunesmith.runners.base import execute_group, execute_trial

    if threads > 0:
        limit_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the coordinator is gone
            return
        if msg[0] != "run":
            return
        task: TrialTask = msg[1]
        reporters: list[ReporterBase] = [PipeReporter(t.key, conn) for t in task.trials]
        try:
            if task.members:
                outcomes = execute_group(objective, task, reporters)
            else:
                outcomes = [execute_trial(objective, task, reporters[0])]
        except (EOFError, OSError, BrokenPipeError):
            return
        for outcome in outcomes:
            try:
                conn.send(("done", outcome))
            except (EOFError, OSError):
                return
            except Exception as exc:  # the result could not be pickled
                why = f"result not sendable: {exc}"
                conn.send(("done", Outcome(outcome.key, "error", error=why)))
