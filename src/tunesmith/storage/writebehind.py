"""The coordinator's storage: its own trials written behind, in batches, within a bounded delay.

A trial's life writes many small things (owner and lease, each parameter, intermediate values,
user attributes, values, state); Optuna's database storage makes each one its own transaction
of several statements. :class:`WriteBehind` wraps an ``RDBStorage`` for the one process that
runs a study (the coordinator):

- A trial it creates is inserted at once (one transaction: the row, its owner and its lease), so
  other processes count it, see who owns it and never start it twice.
- Later writes to a trial it owns (a queued trial it starts is adopted too) are kept in memory
  and written in one transaction for many trials at a time: when :data:`FLUSH_TRIALS` finished
  trials wait, when the oldest waiting change is :data:`FLUSH_SECONDS` old (a background thread,
  :mod:`tunesmith.storage.flusher`, watches the clock while the coordinator is busy), and on
  :meth:`flush` / :meth:`close` (the coordinator closes it on every way out: done, stop rule,
  error, SIGINT, SIGTERM).
- Its reads come from a cache (:mod:`tunesmith.storage.cachedreads`): finished trials never
  change; a light query per read finds the trials other processes created or changed, and only
  those are read in full.

Durability rule: a process killed without warning (SIGKILL, power cut) loses at most the changes
of the last :data:`FLUSH_SECONDS`: results of trials that finished within that window (and at
most :data:`FLUSH_TRIALS` of them). Those trials are stored RUNNING under the dead owner; the
next run fails them as abandoned and runs new trials in their place, so a resumed study is
consistent and reaches its trial budget. Everything flushed is committed (see
:func:`tunesmith.storage.study.make_storage` for what a commit survives on SQLite).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from typing import Any

from tunesmith.storage.batchwrite import Changes, insert_running, write_changes
from tunesmith.storage.cachedreads import CachedReads
from tunesmith.storage.flusher import Flusher
from tunesmith.storage.internals import trial_id
from tunesmith.storage.trialcache import StudyTrials

log = logging.getLogger(__name__)

try:  # the storage base class, for Optuna's isinstance checks and its derived readers
    from optuna.storages import BaseStorage as _Base
except ImportError:  # pragma: no cover - Optuna is a dependency
    _Base = object  # type: ignore[assignment,misc]

FLUSH_TRIALS = 64
"""Finished trials waiting that trigger a write at once."""
FLUSH_SECONDS = 0.2
"""The longest a change of this process waits before it is written."""


class WriteBehind(CachedReads, _Base):
    """An Optuna storage over ``backend`` (an ``RDBStorage``); see the module docstring.

    Its reads are :class:`~tunesmith.storage.cachedreads.CachedReads`; its clock is a
    :class:`~tunesmith.storage.flusher.Flusher`.
    """

    def __init__(
        self,
        backend: Any,
        flush_trials: int = FLUSH_TRIALS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._backend = backend  # rdb_engine() and study_lock() find the engine here
        self._flush_trials = flush_trials
        self._flush_seconds = flush_seconds
        self._lock = threading.RLock()
        self._owned: dict[int, Any] = {}  # trial id -> FrozenTrial (this process's copy)
        self._changes: dict[int, Changes] = {}
        self._finished_waiting = 0
        self._dirty_since: float | None = None
        self._studies: dict[int, StudyTrials] = {}
        self._flusher = Flusher(self.flush, lambda: self._dirty_since, flush_seconds)
        self._closed = False
        self._dist: dict[str, Any] = {}
        self._by_tid: dict[int, Any] = {}  # trial id -> cached FrozenTrial
        self._study_by_tid: dict[int, int] = {}
        self._directions: dict[int, list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_backend":
            raise AttributeError(name)
        return getattr(self._backend, name)

    # -- creating and adopting trials -----------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        from optuna.trial import TrialState

        simple = template_trial is None or (
            template_trial.state == TrialState.RUNNING
            and not template_trial.params
            and not template_trial.system_attrs
            and not template_trial.intermediate_values
            and template_trial.values is None
        )
        if not simple:  # a queued or finished trial: Optuna writes it, the next read sees it
            tid = int(self._backend.create_new_trial(study_id, template_trial))
            return tid  # the next read finds it (its id is above every id read)
        user = dict(template_trial.user_attrs) if template_trial is not None else {}
        with self._lock:
            frozen = insert_running(self._backend.engine, study_id, user)
            self._owned[trial_id(frozen)] = frozen
            self._cache_trial(study_id, frozen)
            return int(trial_id(frozen))

    # -- writes -----------------------------------------------------------------------------------
    def _mine(self, trial_id: int) -> Any:
        """The owned trial's copy, checked updatable; None when another process owns it."""
        frozen = self._owned.get(trial_id)
        if frozen is not None:
            self._backend.check_trial_is_updatable(trial_id, frozen.state)
        return frozen

    def _changed(self, trial_id: int) -> Changes:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()
            if not self._closed:
                self._flusher.start()
        return self._changes.setdefault(trial_id, Changes())

    def _written(self) -> None:
        """After a write kept here: flush when the batch is full or the storage is closed."""
        if self._finished_waiting >= self._flush_trials or self._closed:
            self.flush()

    def _passed_through(self, trial_id: int) -> None:
        """A trial of another process was written: read it again next time."""
        if trial_id in self._study_by_tid:
            self._study(self._study_by_tid[trial_id]).watch.add(trial_id)

    def set_trial_param(self, trial_id: int, name: str, internal: float, dist: Any) -> None:
        from optuna.distributions import check_distribution_compatibility

        with self._lock:
            frozen = self._mine(trial_id)
            if frozen is None:
                self._backend.set_trial_param(trial_id, name, internal, dist)
                self._passed_through(trial_id)
                return
            if name in self._dist:
                check_distribution_compatibility(self._dist[name], dist)
            self._dist.setdefault(name, dist)
            frozen.params[name] = dist.to_external_repr(internal)
            frozen.distributions[name] = dist
            self._changed(trial_id).params[name] = (internal, dist)
            self._written()

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            frozen = self._mine(trial_id)
            if frozen is None:
                self._backend.set_trial_user_attr(trial_id, key, value)
                self._passed_through(trial_id)
                return
            json.dumps(value)  # refuse what cannot be stored now, not at the flush
            frozen.user_attrs[key] = value
            self._changed(trial_id).user[key] = value
            self._written()

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            frozen = self._mine(trial_id)
            if frozen is None:
                self._backend.set_trial_system_attr(trial_id, key, value)
                self._passed_through(trial_id)
                return
            json.dumps(value)
            frozen.system_attrs[key] = value
            self._changed(trial_id).system[key] = value
            self._written()

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        with self._lock:
            frozen = self._mine(trial_id)
            if frozen is None:
                self._backend.set_trial_intermediate_value(trial_id, step, value)
                self._passed_through(trial_id)
                return
            frozen.intermediate_values[step] = value
            self._changed(trial_id).steps[step] = value
            self._written()

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        from optuna.trial import TrialState

        with self._lock:
            frozen = self._mine(trial_id)
            if frozen is None:
                ok = bool(self._backend.set_trial_state_values(trial_id, state, values))
                self._passed_through(trial_id)
                if ok and state == TrialState.RUNNING:
                    self._adopt(trial_id)  # a queued trial this process starts
                return ok
            if values is not None:
                frozen.values = [float(v) for v in values]
            if state == TrialState.RUNNING:
                return False  # it is running already
            changes = self._changed(trial_id)
            if values is not None:
                changes.values = list(frozen.values)
            frozen.state = state
            if state.is_finished():
                frozen.datetime_complete = datetime.datetime.now()
                changes.state = state
                self._study(self._study_by_tid[trial_id]).finished(frozen)
                self._finished_waiting += 1
            self._written()
            return True

    def _adopt(self, trial_id: int) -> None:
        frozen = self._backend.get_trial(trial_id)
        self._owned[trial_id] = frozen
        study_id = self._study_by_tid.get(trial_id)
        if study_id is not None:  # held as another's queued trial until now
            self._cache_trial(study_id, frozen)
            self._study(study_id).watch.discard(trial_id)

    # -- flushing ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every waiting change in one transaction."""
        with self._lock:
            if not self._changes:
                self._dirty_since = None
                return
            changes, self._changes = self._changes, {}
            try:
                ended = {
                    tid: self._owned[tid].datetime_complete
                    for tid, c in changes.items()
                    if c.state is not None
                }
                dropped = write_changes(self._backend.engine, changes, ended)
            except BaseException:
                for tid, change in changes.items():  # nothing was written: keep them waiting
                    self._changes.setdefault(tid, change)
                raise
            self._finished_waiting = 0
            self._dirty_since = None
            for tid, change in changes.items():
                if tid in dropped or change.state is not None:
                    self._owned.pop(tid, None)  # finished (or taken over): served by the cache
                if tid in dropped:
                    self._study(self._study_by_tid[tid]).watch.add(tid)

    def close(self) -> None:
        """Write what waits and stop the clock; later writes go out at once."""
        self._closed = True
        self._flusher.stop()
        self.flush()


def coordinator_storage(url: str) -> Any:
    """The storage a coordinator writes ``url`` through: :class:`WriteBehind` over a database,
    Optuna's own in-memory storage otherwise."""
    from tunesmith.storage.study import make_storage
    from tunesmith.storage.urls import is_memory

    storage = make_storage(url)
    return storage if is_memory(url) else WriteBehind(storage)


def close_storage(storage: Any) -> None:
    """Commit what a :class:`WriteBehind` holds (nothing to do for any other storage)."""
    if isinstance(storage, WriteBehind):
        storage.close()
