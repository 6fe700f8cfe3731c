"""The reads of :class:`~tunesmith.storage.writebehind.WriteBehind`: trials from a cache.

Finished trials never change, so they are read once; a light query per read finds the trials
other processes created or changed since the last read, and only those are read in full. This
process's own trials that are still being written come from its own copies (their changes may
not be written yet). Everything about the study itself (names, directions, attributes) goes
straight to the database.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from tunesmith.storage.internals import rdb_schema, trial_id
from tunesmith.storage.trialcache import StudyTrials

BULK_READ = 16
"""More trials than this to read at once are read with one query for the whole study."""


def snapshot(frozen: Any) -> Any:
    """A copy of a trial this process is still writing (its dicts copied, not their values)."""
    out = copy.copy(frozen)
    out.params = dict(frozen.params)
    out.distributions = dict(frozen.distributions)
    out.user_attrs = dict(frozen.user_attrs)
    out.system_attrs = dict(frozen.system_attrs)
    out.intermediate_values = dict(frozen.intermediate_values)
    return out


class CachedReads:
    """The read half of :class:`~tunesmith.storage.writebehind.WriteBehind` (a mixin: the
    attributes below are set by its ``__init__``)."""

    _backend: Any
    _lock: threading.RLock
    _owned: dict[int, Any]  # trial id -> FrozenTrial (this process's copy)
    _studies: dict[int, StudyTrials]
    _by_tid: dict[int, Any]  # trial id -> cached FrozenTrial
    _study_by_tid: dict[int, int]
    _directions: dict[int, list[Any]]

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
                return snapshot(frozen)
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
