"""Recording how each trial ended: its state, values and extra metrics in the study, and the tally.

The coordinator decides when a trial is finished; :class:`Recorder` writes what that means. A
completed trial's duration is measured here for the time budget (a group member's share of its
group's wall time: :func:`member_seconds`). Nothing here reads the clock or talks to a runner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tunesmith.experiment.duplicates import is_duplicate
from tunesmith.experiment.results import RESERVED_ATTRS, BadResult, setup_seconds, to_values
from tunesmith.runners.base import Outcome
from tunesmith.storage.leases import FAIL_REASON
from tunesmith.storage.study import WARM_START_FROM

log = logging.getLogger(__name__)

MAX_ATTR_CHARS = 4000


@dataclass
class Tally:
    """This run's counts, and the current streak of failures (with its first error)."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    streak: int = 0
    first_failure: str | None = None
    done_at_start: int = 0


def member_seconds(wall: float, setup: float, size: int) -> float:
    """A trial's own cost: its task's wall time less the one-off set-up, shared by the ``size``
    trials of its group (1 for a trial run alone)."""
    return max(0.0, (wall - setup) / max(1, size))


@dataclass
class Recorder:
    """Tells ``study`` how each trial ended and keeps the tally and the measured durations."""

    study: Any
    n_objectives: int
    metric_names: list[str] | None = None
    tally: Tally = field(default_factory=Tally)
    durations: list[float] = field(default_factory=list)  # seconds, this run's completed trials

    def record(
        self, trial: Any, outcome: Outcome, wall: float, size: int = 1
    ) -> tuple[Any, list[float] | None, str | None]:
        """Tell ``trial``'s end (``wall``: seconds since its task was handed out, ``size``: the
        trials in that task); return ``(state, values, fail reason)``."""
        from optuna.trial import TrialState

        values: list[float] | None = None
        state = TrialState.COMPLETE
        reason: str | None = None
        if outcome.status == "ok":
            # a one-off set-up (a cache build) is not what the next trial will cost
            self.durations.append(member_seconds(wall, setup_seconds(outcome.value), size))
            try:
                values, extra = to_values(outcome.value, self.n_objectives, self.metric_names)
                for name, value in extra.items():
                    trial.set_user_attr(name, value)
            except BadResult as exc:
                state, reason = TrialState.FAIL, str(exc)
        elif outcome.status == "pruned":
            state = TrialState.PRUNED
            self.keep_extras(trial, outcome.value)
        else:
            state, reason = TrialState.FAIL, outcome.error or "unknown error"
            if outcome.detail:
                trial.set_user_attr("fail_traceback", outcome.detail[-MAX_ATTR_CHARS:])
        if reason is not None:
            trial.set_user_attr(FAIL_REASON, reason[:MAX_ATTR_CHARS])
            log.warning("trial %d failed: %s", trial.number, reason)
        self.tell(trial, state, values)
        self.count(trial.number, state, reason)
        return state, values, reason

    def keep_extras(self, trial: Any, value: Any) -> None:
        """A pruned trial's returned dict: its non-objective entries become user attributes."""
        if not isinstance(value, dict):
            return
        metrics = self.metric_names or []
        for key, item in value.items():
            if key not in metrics:
                trial.set_user_attr(f"metric.{key}" if key in RESERVED_ATTRS else str(key), item)

    def tell(self, trial: Any, state: Any, values: list[float] | None) -> None:
        try:
            if values is not None:
                self.study.tell(trial, values)
            else:
                self.study.tell(trial, state=state)
        except RuntimeError as exc:
            # GridSampler calls study.stop() after the last grid point, which Optuna only allows
            # inside optimize(); the state is already stored (Optuna writes it in a finally).
            if "Study.stop" not in str(exc):
                raise

    def count(self, number: int, state: Any, reason: str | None) -> None:
        from optuna.trial import TrialState

        t = self.tally
        if state == TrialState.FAIL:
            t.failed += 1
            t.streak += 1
            if t.streak == 1:
                t.first_failure = f"trial {number}: {reason}"
        else:
            t.streak = 0
            t.first_failure = None
            if state == TrialState.COMPLETE:
                t.complete += 1
            else:
                t.pruned += 1

    def count_existing(self) -> None:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        trials = [t for t in trials if WARM_START_FROM not in t.user_attrs]  # not run here
        t = self.tally
        t.complete = sum(x.state == TrialState.COMPLETE for x in trials)
        t.pruned = sum(x.state == TrialState.PRUNED for x in trials)
        t.failed = sum(x.state == TrialState.FAIL and not is_duplicate(x) for x in trials)
        t.done_at_start = t.complete + t.pruned
