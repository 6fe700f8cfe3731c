"""The coordinator's storage: its own trials written behind, in batches, within a bounded delay.

A trial's life writes many small things (owner and lease, each parameter, intermediate values,
user attributes, values, state); Optuna's database storage makes each one its own transaction
of several statements. :class:`WriteBehind` wraps an ``RDBStorage`` for the one process that
runs a study (the coordinator):

- A trial it creates is inserted at once (one transaction: the row, its owner and its lease), so
  other processes count it, see who owns it and never start it twice.
- Later writes to a trial it owns (a queued trial it starts is adopted too) are kept in memory
  and written in one transaction for many trials at a time: when :data:`FLUSH_TRIALS` finished
  trials wait, when the oldest waiting change is :data:`FLUSH_SECONDS` old (a background thread
  watches the clock while the coordinator is busy), and on :meth:`flush` / :meth:`close` (the
  coordinator closes it on every way out: done, stop rule, error, SIGINT, SIGTERM).
- Its reads come from a cache: finished trials never change; a light query per read finds the
  trials other processes created or changed, and only those are read in full.

Durability rule: a process killed without warning (SIGKILL, power cut) loses at most the changes
of the last :data:`FLUSH_SECONDS`: results of trials that finished within that window (and at
most :data:`FLUSH_TRIALS` of them). Those trials are stored RUNNING under the dead owner; the
next run fails them as abandoned and runs new trials in their place, so a resumed study is
consistent and reaches its trial budget. Everything flushed is committed (see
:func:`tunesmith.storage.study.make_storage` for what a commit survives on SQLite).
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import threading
import time
from typing import Any

from tunesmith.storage.batchwrite import Changes, insert_running, write_changes
from tunesmith.storage.internals import rdb_schema, trial_id
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
BULK_READ = 16
"""More trials than this to read at once are read with one query for the whole study."""


def _snapshot(frozen: Any) -> Any:
    """A copy of a trial this process is still writing (its dicts copied, not their values)."""
    out = copy.copy(frozen)
    out.params = dict(frozen.params)
    out.distributions = dict(frozen.distributions)
    out.user_attrs = dict(frozen.user_attrs)
    out.system_attrs = dict(frozen.system_attrs)
    out.intermediate_values = dict(frozen.intermediate_values)
    return out


class WriteBehind(_Base):
    """An Optuna storage over ``backend`` (an ``RDBStorage``); see the module docstring."""

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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
            self._start_thread()
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

    def _start_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(
            target=self._watch_clock, name="tunesmith-flush", daemon=True
        )
        self._thread.start()

    def _watch_clock(self) -> None:
        while not self._stop.wait(self._flush_seconds / 4):
            since = self._dirty_since
            if since is None or time.monotonic() - since < self._flush_seconds:
                continue
            try:
                self.flush()
            except Exception as exc:  # the coordinator's own flush raises it again
                log.warning("could not write trials to the study yet: %s", exc)

    def close(self) -> None:
        """Write what waits and stop the clock; later writes go out at once."""
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    # -- reads ------------------------------------------------------------------------------------
    def _study(self, study_id: int) -> StudyTrials:
        held = self._studies.get(study_id)
        if held is None:
            held = self._studies[study_id] = StudyTrials()
        return held

    def _cache_trial(self, study_id: int, frozen: Any) -> None:
        self._study(study_id).put(frozen)
        self._by_tid[trial_id(frozen)] = frozen
        self._study_by_tid[trial_id(frozen)] = study_id

    def _refresh(self, study_id: int) -> None:
        """Read the trials other processes created or changed since the last read: one light
        query, then a full read of those trials only."""
        from sqlalchemy import or_, select

        trials = rdb_schema().TrialModel.__table__
        held = self._study(study_id)
        cond = trials.c.trial_id > held.last_id
        if held.watch:
            cond = or_(cond, trials.c.trial_id.in_(sorted(held.watch)))
        with self._backend.engine.connect() as conn:
            rows = conn.execute(
                select(trials.c.trial_id).where(trials.c.study_id == study_id, cond)
            ).all()
        wanted = []
        for (raw,) in rows:
            tid = int(raw)
            held.last_id = max(held.last_id, tid)
            if tid in self._owned or (tid in self._by_tid and tid not in held.watch):
                continue  # this process's own trial, or a finished one held already
            wanted.append(tid)
        if len(wanted) > BULK_READ:  # e.g. the first read of a resumed study: one query for all
            ids = set(wanted)
            read = [
                t
                for t in self._backend.get_all_trials(study_id, deepcopy=False)
                if trial_id(t) in ids
            ]
        else:
            read = [self._backend.get_trial(tid) for tid in wanted]
        for frozen in read:
            tid = trial_id(frozen)
            self._cache_trial(study_id, frozen)
            if frozen.state.is_finished():
                held.watch.discard(tid)
            else:
                held.watch.add(tid)

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
        with self._lock:
            self._refresh(study_id)
            trials = self._study(study_id).trials(states)
            return copy.deepcopy(trials) if deepcopy else trials

    def held_trials(self, study_id: int, states: Any = None) -> list[Any]:
        """The study's trials as last read (no read of other processes' changes)."""
        with self._lock:
            return self._study(study_id).trials(states)

    def count_trials(self, study_id: int, states: Any, fresh: bool = True) -> int:
        """How many trials of the study in ``states`` it ran (warm-start copies left out); O(1)
        in the number of finished trials. ``fresh``: read other processes' changes first."""
        with self._lock:
            if fresh:
                self._refresh(study_id)
            return self._study(study_id).count(states)

    def get_trial(self, trial_id: int) -> Any:
        with self._lock:
            frozen = self._owned.get(trial_id)
            if frozen is not None:
                return _snapshot(frozen)
            frozen = self._by_tid.get(trial_id)
            if frozen is not None and frozen.state.is_finished():
                return frozen
            return self._backend.get_trial(trial_id)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._lock:
            frozen = self._study(study_id).get(trial_number)
        if frozen is not None:
            return int(trial_id(frozen))
        return int(self._backend.get_trial_id_from_study_id_trial_number(study_id, trial_number))

    def get_best_trial(self, study_id: int) -> Any:
        from optuna.study import StudyDirection
        from optuna.trial import TrialState

        directions = self.get_study_directions(study_id)
        if len(directions) > 1:
            raise RuntimeError("Best trial can be obtained only for single-objective optimization.")
        done = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ValueError("No trials are completed yet.")
        pick = max if directions[0] == StudyDirection.MAXIMIZE else min
        return pick(done, key=lambda t: t.values[0])

    # -- the study itself: straight to the database ----------------------------------------------
    def create_new_study(self, directions: Any, study_name: str | None = None) -> int:
        return int(self._backend.create_new_study(directions, study_name))

    def delete_study(self, study_id: int) -> None:
        self._backend.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._backend.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._backend.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._backend.get_study_id_from_name(study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._backend.get_study_name_from_id(study_id))

    def get_study_directions(self, study_id: int) -> list[Any]:
        if study_id not in self._directions:
            self._directions[study_id] = list(self._backend.get_study_directions(study_id))
        return list(self._directions[study_id])

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._backend.get_study_user_attrs(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._backend.get_study_system_attrs(study_id))

    def get_all_studies(self) -> list[Any]:
        return list(self._backend.get_all_studies())


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
