"""One study's trials as the coordinator's storage knows them, with counts that cost O(1).

A finished trial never changes again, so it is kept and counted once; only unfinished trials
(few: the running ones and the queue) are looked at on every read. Trials are held in number
order (Optuna numbers a study's trials 0, 1, 2, ... as they are created), so listing them needs
no sort. Counts leave out warm-start copies of another study's trials (they were not run here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container
from typing import Any

from tunesmith.storage.internals import trial_id
from tunesmith.storage.study import WARM_START_FROM


class StudyTrials:
    """The trials of one study, kept by :class:`~tunesmith.storage.writebehind.WriteBehind`."""

    def __init__(self) -> None:
        self._ordered: list[Any] = []  # index = trial number; None where not read yet
        self._holes = 0
        self.unfinished: dict[int, Any] = {}  # trial id -> FrozenTrial
        self._finished: Counter[Any] = Counter()  # TrialState -> trials run here
        self._counted: set[int] = set()
        self.last_id = -1  # every trial id up to this one has been read
        self.watch: set[int] = set()  # unfinished trials of other processes: read them again

    def put(self, frozen: Any) -> None:
        """Hold ``frozen`` (new, or a newer record of a trial held already)."""
        number = int(frozen.number)
        if number >= len(self._ordered):
            missing = number - len(self._ordered)
            self._ordered.extend([None] * (missing + 1))
            self._holes += missing
        elif self._ordered[number] is None:
            self._holes -= 1
        self._ordered[number] = frozen
        if frozen.state.is_finished():
            self.finished(frozen)
        else:
            self.unfinished[trial_id(frozen)] = frozen

    def get(self, number: int) -> Any:
        return self._ordered[number] if 0 <= number < len(self._ordered) else None

    def finished(self, frozen: Any) -> None:
        """``frozen`` (held) has finished: count it once."""
        tid = trial_id(frozen)
        self.unfinished.pop(tid, None)
        if tid not in self._counted:
            self._counted.add(tid)
            if WARM_START_FROM not in frozen.user_attrs:
                self._finished[frozen.state] += 1

    def trials(self, states: Container[Any] | None = None) -> list[Any]:
        """The trials in number order (only those in ``states`` when given)."""
        from optuna.trial import TrialState

        if states is not None and all(s not in states for s in TrialState if s.is_finished()):
            return sorted(
                (t for t in self.unfinished.values() if t.state in states), key=lambda t: t.number
            )
        held = [t for t in self._ordered if t is not None] if self._holes else list(self._ordered)
        return held if states is None else [t for t in held if t.state in states]

    def count(self, states: Container[Any]) -> int:
        """How many trials in ``states`` this study ran (warm-start copies left out)."""
        done = sum(n for state, n in self._finished.items() if state in states)
        running = sum(
            t.state in states and WARM_START_FROM not in t.user_attrs
            for t in self.unfinished.values()
        )
        return done + running
