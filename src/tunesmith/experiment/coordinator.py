"""The coordinator: the one process that reads and writes the study.

Loop: reconcile abandoned trials once, then ask the sampler for trials while the budget allows and
the runner has free slots, hand their parameters to the runner, answer each intermediate report
(``trial.report`` + ``should_prune``), tell each result, renew the leases of running trials, and
stop on the trial budget, the timeout, the target, the patience, an exhausted grid or too many
failures in a row. With a timeout, a trial is not started when its expected cost (the median
duration of this run's completed trials, or the ``trial_cost`` it was given) does not fit in the
time left. A proposal with the same parameters as a trial the study already holds is asked again
(:mod:`tunesmith.experiment.duplicates`).

SIGINT and SIGTERM end the run gracefully (:mod:`tunesmith.experiment.signals`): running trials
are failed with "interrupted" and their parameters queued again once, and
:class:`~tunesmith.errors.Interrupted` propagates (the CLI exits 130 or 143). Creating a trial and
tracking it, and recording a result, are critical sections a signal cannot split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tunesmith.config.experiment import StudyConfig
from tunesmith.errors import StudyFailedError
from tunesmith.experiment.budget import expected_cost, fits
from tunesmith.experiment.deadline import BUDGET, STOPPED_BY, Deadline, StepsOf
from tunesmith.experiment.duplicates import Duplicates, is_duplicate
from tunesmith.experiment.events import OnEvent, Progress, StudyEvent
from tunesmith.experiment.results import RESERVED_ATTRS, BadResult, setup_seconds, to_values
from tunesmith.experiment.signals import GracefulStop
from tunesmith.experiment.stops import grid_exhausted, stop_message, target_or_patience
from tunesmith.runners.base import Outcome, Runner, TrialTask
from tunesmith.storage.internals import grid_size
from tunesmith.storage.leases import (
    BUDGET_STATES,
    FAIL_REASON,
    LEASE,
    Owner,
    ask_owned,
    count_trials,
    fail_and_requeue,
    reconcile,
)
from tunesmith.storage.study import RUN_OVERRIDES, WARM_START_FROM, current_trial

log = logging.getLogger(__name__)

MAX_ATTR_CHARS = 4000


@dataclass
class _Live:
    trial: Any  # optuna.Trial
    started: float


@dataclass
class _Tally:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    streak: int = 0
    first_failure: str | None = None
    done_at_start: int = 0


@dataclass
class _Clock:
    start: float = field(default_factory=time.monotonic)
    last_renew: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class Coordinator:
    """Drives one study with one runner until a stop rule fires; see :meth:`run`."""

    def __init__(
        self,
        study: Any,
        space: Any,
        runner: Runner,
        config: StudyConfig,
        on_event: OnEvent | None = None,
        owner: Owner | None = None,
        fixed: bool = False,
        seed_trials: bool = True,
        trial_cost: float | None = None,
        steps_of: StepsOf | None = None,
    ) -> None:
        self.study = study
        self._space = space
        self._runner = runner
        self._cfg = config
        self._on_event = on_event
        self._owner = owner or Owner()
        self._live: dict[int, _Live] = {}
        self._tally = _Tally()
        self._clock = _Clock()
        self._multi = len(config.all_directions) > 1
        self._fixed = fixed  # run the queued runs only; never ask the sampler for new ones
        self._seed_trials = seed_trials and config.seed is not None
        self._trial_cost = trial_cost  # expected seconds per trial before any is measured
        self._durations: list[float] = []  # seconds, this run's completed trials
        self._trials: list[Any] = []  # the study's trials as last read (one read per loop)
        self._started_since_read = 0
        self._evaluated = 0  # trials the budget counts, as of the last read
        self._duplicates = Duplicates(objective_seeds=not seed_trials)
        self._guard = GracefulStop()
        self._deadline = Deadline(  # running trials stop at the timeout (experiment.deadline)
            config.timeout,
            self._clock.start,
            maximize=config.all_directions[0] == "maximize",
            single=not self._multi,
            steps_of=steps_of,
        )

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> str:
        """Run until a stop rule fires; return its name. Raises StudyFailedError (exit 3)."""
        try:
            with self._guard:
                with self._guard.critical():  # a signal here waits until the clean-up is done
                    reconcile(self.study, self._owner)
                self._count_existing()
                self._emit("started")
                reason = self._loop()
        finally:
            self._runner.close()
        if reason == "failures":
            self._abandon_live("study stopped after repeated failures")
            self._emit("stopped", message="failures")
            raise StudyFailedError(
                f"study {self._cfg.name!r} stopped: {self._tally.streak} trials failed in a row "
                f"(study.max_consecutive_failures = {self._cfg.max_consecutive_failures}); "
                f"the first error was: {self._tally.first_failure}"
            )
        self._emit("stopped", message=reason)
        log.info("study %r stopped: %s", self._cfg.name, reason)
        return reason or "done"

    def _loop(self) -> str | None:
        reason: str | None = None
        try:
            while True:
                self._guard.check()
                if reason == "n_trials":  # a trial counted while running may since have failed
                    reason = None
                reason = reason or self._stop_reason()
                while reason is None and len(self._live) < self._runner.slots:
                    self._guard.check()
                    reason = self._start_trial() or self._stop_reason(fresh=False)
                if not self._live:
                    return reason
                with self._guard.interruptible():
                    outcomes = self._runner.wait(self._wait_time(), self._decide)
                for outcome in outcomes:
                    self._finish(outcome)
                self._renew_leases()
                if self._tally.streak >= self._cfg.max_consecutive_failures:
                    return "failures"
        except BaseException as exc:
            with self._guard.critical():
                self._abandon_live(stop_message(exc))
                self._runner.close()  # no worker outlives the trials just failed
            raise

    def _wait_time(self) -> float:
        wait = max(0.05, min(1.0, self._cfg.lease_seconds / 3))
        if self._cfg.timeout is not None:
            wait = max(0.05, min(wait, self._cfg.timeout - self._clock.elapsed()))
        return wait

    # -- starting and finishing trials ------------------------------------------------------
    def _start_trial(self) -> str | None:
        """Start one trial; return "n_trials" when the study's budget is already taken."""
        from optuna.trial import TrialState

        dups = self._duplicates
        dups.index(self._trials)
        budget = None if self._fixed else self._cfg.n_trials
        for attempt in range(dups.max_resamples + 1):
            now = time.time()
            with self._guard.critical():  # a signal here must not leave an untracked trial
                trial = ask_owned(
                    self.study, self._owner.attrs(now), now + self._cfg.lease_seconds, budget
                )
                if trial is None:
                    return "n_trials"
                self._live[trial.number] = _Live(trial, now)
            try:
                params = self._space.suggest(trial)
            except Exception:
                with self._guard.critical():
                    self._live.pop(trial.number, None)
                    self._tell(trial, TrialState.FAIL, None)
                raise
            if self._fixed or not dups.check(trial, params, last=attempt == dups.max_resamples):
                break
            with self._guard.critical():  # recorded as a re-sampled duplicate
                self._live.pop(trial.number, None)
                self._tell(trial, TrialState.FAIL, None)
        params.update(trial.user_attrs.get(RUN_OVERRIDES) or {})  # a fixed run's own settings
        params.update(dups.repeat_settings(trial))  # a repeat spent as another seed
        seed = None
        if self._seed_trials and self._cfg.seed is not None:
            seed = self._cfg.seed + trial.number
        self._started_since_read += 1
        self._deadline.begin(trial.number, params)
        self._runner.submit(TrialTask(trial.number, params, seed))
        self._emit("trial_started", trial=trial.number, params=dict(params))
        return None

    def _decide(self, key: int, step: int, value: float) -> bool:
        with self._guard.critical():  # a storage write: a signal waits until it is done
            return self._answer(key, step, value)

    def _answer(self, key: int, step: int, value: float) -> bool:
        live = self._live.get(key)
        if live is None:
            return False
        cut = self._deadline.cut(key, step, value)  # past (or projected past) the deadline
        if self._multi:  # Optuna prunes single-objective studies only
            return cut
        live.trial.report(value, step)
        self._renew_leases()
        self._emit("trial_reported", trial=key, step=step, values=(value,))
        return cut or bool(live.trial.should_prune())

    def _finish(self, outcome: Outcome) -> None:
        with self._guard.critical():  # the trial leaves _live and is told in one step
            self._record(outcome)

    def _record(self, outcome: Outcome) -> None:
        from optuna.trial import TrialState

        live = self._live.get(outcome.key)
        if live is None:
            return
        if outcome.status == "error" and self._guard.signalled:
            return  # a worker that died with the signal: failed and re-queued as interrupted
        if outcome.lost:  # its node left: not the trial's doing, so it runs again once
            self._live.pop(outcome.key, None)
            why = outcome.error or "lost"
            fail_and_requeue(self.study, current_trial(self.study, live.trial), why)
            self._count(live.trial.number, TrialState.FAIL, why)
            self._emit("trial_finished", trial=live.trial.number, state="FAIL", message=why)
            return
        self._live.pop(outcome.key, None)
        trial = live.trial
        outcome, scale = self._deadline.settle(outcome)  # cut by the budget: its best so far
        if scale is not None:
            trial.set_user_attr(STOPPED_BY, BUDGET)
        values: list[float] | None = None
        state = TrialState.COMPLETE
        reason: str | None = None
        if outcome.status == "ok":
            # a one-off set-up (a cache build) is not what the next trial will cost; a trial the
            # budget cut counts as its full run would (experiment.deadline)
            seconds = time.time() - live.started - setup_seconds(outcome.value)
            self._durations.append(seconds * (scale or 1.0))
            try:
                values, extra = to_values(
                    outcome.value, len(self._cfg.all_directions), self._cfg.metric_names
                )
                for name, value in extra.items():
                    trial.set_user_attr(name, value)
            except BadResult as exc:
                state, reason = TrialState.FAIL, str(exc)
        elif outcome.status == "pruned":
            state = TrialState.PRUNED
            self._keep_extras(trial, outcome.value)
        else:
            state, reason = TrialState.FAIL, outcome.error or "unknown error"
            if outcome.detail:
                trial.set_user_attr("fail_traceback", outcome.detail[-MAX_ATTR_CHARS:])
        if reason is not None:
            trial.set_user_attr(FAIL_REASON, reason[:MAX_ATTR_CHARS])
            log.warning("trial %d failed: %s", trial.number, reason)
        self._tell(trial, state, values)
        self._count(trial.number, state, reason)
        self._emit(
            "trial_finished",
            trial=trial.number,
            state=state.name,
            values=tuple(values) if values else None,
            message=reason,
        )

    def _keep_extras(self, trial: Any, value: Any) -> None:
        """A pruned trial's returned dict: its non-objective entries become user attributes."""
        if not isinstance(value, dict):
            return
        metrics = self._cfg.metric_names or []
        for key, item in value.items():
            if key not in metrics:
                trial.set_user_attr(f"metric.{key}" if key in RESERVED_ATTRS else str(key), item)

    def _tell(self, trial: Any, state: Any, values: list[float] | None) -> None:
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

    def _count(self, number: int, state: Any, reason: str | None) -> None:
        from optuna.trial import TrialState

        t = self._tally
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

    def _count_existing(self) -> None:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        trials = [t for t in trials if WARM_START_FROM not in t.user_attrs]  # not run here
        self._tally.complete = sum(t.state == TrialState.COMPLETE for t in trials)
        self._tally.pruned = sum(t.state == TrialState.PRUNED for t in trials)
        self._tally.failed = sum(t.state == TrialState.FAIL and not is_duplicate(t) for t in trials)
        self._tally.done_at_start = self._tally.complete + self._tally.pruned

    # -- leases and clean-up ----------------------------------------------------------------
    def _renew_leases(self) -> None:
        if time.monotonic() - self._clock.last_renew < self._cfg.lease_seconds / 3:
            return
        self._clock.last_renew = time.monotonic()
        until = time.time() + self._cfg.lease_seconds
        for live in self._live.values():
            live.trial.set_user_attr(LEASE, until)

    def _abandon_live(self, reason: str) -> None:
        """Fail this run's running trials (their parameters are queued again once)."""
        for number in list(self._live):
            live = self._live.pop(number)
            try:
                frozen = current_trial(self.study, live.trial)
                fail_and_requeue(self.study, frozen, reason)
            except Exception as exc:  # clean-up must not hide the original error
                log.warning("could not mark trial %d failed: %s", number, exc)

    # -- stop rules -------------------------------------------------------------------------
    def _stop_reason(self, fresh: bool = True) -> str | None:
        """The stop rule that fires now, or None. ``fresh=False`` (right after starting a trial)
        reuses the trials read at the top of the loop, counting the trials started since."""
        from optuna.trial import TrialState

        cfg = self._cfg
        if self._tally.streak >= cfg.max_consecutive_failures:
            return "failures"
        if cfg.timeout is not None:
            left = cfg.timeout - self._clock.elapsed()
            cost = expected_cost(self._durations, self._trial_cost)
            if left <= 0:
                return "timeout"
            if not fits(left, cost):
                log.info(
                    "study %r: the next trial (about %.1f s) would not finish in the %.1f s left",
                    cfg.name,
                    cost,
                    left,
                )
                return "timeout"
        if fresh or grid_size(self.study.sampler) is not None:  # a grid counts its points
            self._trials = self.study.get_trials(deepcopy=False)
            self._started_since_read = 0
            # n_trials counts the trials this study evaluated (a resumed run's earlier ones too),
            # not the warm-start copies of another study's trials.
            self._evaluated = count_trials(self.study, BUDGET_STATES, fresh=False)
        trials = self._trials
        if self._fixed:  # given runs: no trial budget, target or patience applies
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            return None if waiting > self._started_since_read else "runs done"
        evaluated = self._evaluated
        if cfg.n_trials is not None and evaluated + self._started_since_read >= cfg.n_trials:
            return "n_trials"
        if grid_exhausted(self.study.sampler, trials):
            return "grid exhausted"
        if not self._multi:
            return target_or_patience(self._cfg, trials)
        return None

    def _best_value(self) -> float | None:
        if self._multi or self._tally.complete == 0:
            return None
        try:
            return float(self.study.best_value)
        except ValueError:
            return None

    def _emit(self, kind: Any, **fields: Any) -> None:
        if self._on_event is None:
            return
        t = self._tally
        progress = Progress(
            study_name=self._cfg.name,
            complete=t.complete,
            pruned=t.pruned,
            failed=t.failed,
            running=len(self._live),
            best_value=self._best_value(),
            elapsed=self._clock.elapsed(),
            n_trials=self._cfg.n_trials,
            timeout=self._cfg.timeout,
            done_at_start=t.done_at_start,
        )
        self._on_event(StudyEvent(kind, progress, **fields))
