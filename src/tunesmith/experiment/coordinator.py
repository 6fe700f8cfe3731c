"""The coordinator: the one process that reads and writes the study.

Loop: reconcile abandoned trials once, then ask the sampler for trials while the budget allows and
the runner has free slots, hand their parameters to the runner, answer each intermediate report
(``trial.report`` + ``should_prune``), tell each result, renew the leases of running trials, and
stop on the trial budget, the timeout, the target, the patience, an exhausted grid or too many
failures in a row. With a timeout, a trial is not started when its expected cost (the median
duration of this run's completed trials, or the ``trial_cost`` it was given) does not fit in the
time left. A proposal with the same parameters as a trial the study already holds is asked again
(:mod:`tunesmith.experiment.duplicates`). Results are written by
:class:`~tunesmith.experiment.recording.Recorder`.

Group tasks: with ``group_key`` and ``max_group > 1``, a trial whose parameters have a group key
(not None) is joined by more trials while the study holds queued (WAITING) trials, the batch is
below ``max_group`` and the trial budget allows; the batch is split by group key
(:func:`~tunesmith.experiment.grouping.buckets`), and each bucket of two or more runs as one group
task, which takes one runner slot. Each member keeps its own record, pruning answers and result,
with the user attributes ``tunesmith_group`` (the group's first trial number) and
``tunesmith_group_size``; its measured cost is its share of the group's wall time. Tasks that find
no free slot wait here, already started, for the next one.

SIGINT and SIGTERM end the run gracefully (:mod:`tunesmith.experiment.signals`): running trials
are failed with "interrupted" and their parameters queued again once, and
:class:`~tunesmith.errors.Interrupted` propagates (the CLI exits 130 or 143). Creating a trial and
tracking it, and recording a result, are critical sections a signal cannot split.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from tunesmith.config.experiment import StudyConfig
from tunesmith.errors import StudyFailedError
from tunesmith.experiment.budget import expected_cost, fits
from tunesmith.experiment.duplicates import Duplicates
from tunesmith.experiment.events import OnEvent, Progress, StudyEvent
from tunesmith.experiment.grouping import group_tasks
from tunesmith.experiment.recording import Recorder
from tunesmith.experiment.results import GROUP, GROUP_SIZE
from tunesmith.experiment.signals import GracefulStop
from tunesmith.experiment.stops import grid_exhausted, stop_message, target_or_patience
from tunesmith.runners.base import Outcome, Runner, TrialTask
from tunesmith.storage.internals import grid_size
from tunesmith.storage.leases import (
    BUDGET_STATES,
    LEASE,
    Owner,
    ask_owned,
    count_trials,
    fail_and_requeue,
    reconcile,
)
from tunesmith.storage.study import RUN_OVERRIDES, current_trial

log = logging.getLogger(__name__)


@dataclass
class _Live:
    trial: Any  # optuna.Trial
    started: float  # when asked; when its task is handed to the runner, from then on
    task: int | None = None  # the key of the runner task it runs in (None: not handed out yet)
    size: int = 1  # the trials in that task


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
        group_key: Callable[[dict[str, Any]], Hashable | None] | None = None,
        max_group: int = 1,
    ) -> None:
        if max_group < 1:
            raise ValueError(f"Coordinator: max_group must be >= 1, got {max_group}")
        if max_group > 1 and group_key is None:
            raise ValueError(f"Coordinator: max_group = {max_group} needs a group_key")
        self.study = study
        self._space = space
        self._runner = runner
        self._cfg = config
        self._on_event = on_event
        self._owner = owner or Owner()
        self._live: dict[int, _Live] = {}
        self._recorder = Recorder(study, len(config.all_directions), config.metric_names)
        self._tally = self._recorder.tally
        self._clock = _Clock()
        self._multi = len(config.all_directions) > 1
        self._fixed = fixed  # run the queued runs only; never ask the sampler for new ones
        self._seed_trials = seed_trials and config.seed is not None
        self._trial_cost = trial_cost  # expected seconds per trial before any is measured
        self._durations = self._recorder.durations  # seconds, this run's completed trials
        self._trials: list[Any] = []  # the study's trials as last read (one read per loop)
        self._started_since_read = 0
        self._evaluated = 0  # trials the budget counts, as of the last read
        self._duplicates = Duplicates(objective_seeds=not seed_trials)
        self._guard = GracefulStop()
        self._group_key = group_key  # params -> what trials may train together (None: alone)
        self._max_group = max_group
        self._pending: deque[TrialTask] = deque()  # started tasks waiting for a free slot

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> str:
        """Run until a stop rule fires; return its name. Raises StudyFailedError (exit 3)."""
        try:
            with self._guard:
                with self._guard.critical():  # a signal here waits until the clean-up is done
                    reconcile(self.study, self._owner)
                self._recorder.count_existing()
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
                self._submit_pending()  # trials already started run even after a stop rule
                while reason is None and self._busy() < self._runner.slots:
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
        """Start one trial (or a group of queued trials that train together, see the module
        docstring); return "n_trials" when the study's budget is already taken."""
        first = self._ask_trial()
        if first is None:
            return "n_trials"
        asked = [first]
        if self._max_group > 1 and self._key_of(first[1]) is not None:
            while len(asked) < self._max_group and self._queued():
                more = self._ask_trial()
                if more is None:  # the trial budget is taken
                    break
                asked.append(more)
        key_of = self._key_of if len(asked) > 1 else None
        self._pending.extend(group_tasks(asked, key_of, self._max_group))
        self._submit_pending()
        return None

    def _ask_trial(self) -> tuple[Any, dict[str, Any], int | None] | None:
        """Ask the study for a trial and its parameters: ``(trial, params, seed)``, or None when
        the trial budget is taken. The trial is live (leased) from here on."""
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
                    return None
                self._live[trial.number] = _Live(trial, now)
            try:
                params = self._space.suggest(trial)
            except Exception:
                with self._guard.critical():
                    self._live.pop(trial.number, None)
                    self._recorder.tell(trial, TrialState.FAIL, None)
                raise
            if self._fixed or not dups.check(trial, params, last=attempt == dups.max_resamples):
                break
            with self._guard.critical():  # recorded as a re-sampled duplicate
                self._live.pop(trial.number, None)
                self._recorder.tell(trial, TrialState.FAIL, None)
        params.update(trial.user_attrs.get(RUN_OVERRIDES) or {})  # a fixed run's own settings
        params.update(dups.repeat_settings(trial))  # a repeat spent as another seed
        seed = None
        if self._seed_trials and self._cfg.seed is not None:
            seed = self._cfg.seed + trial.number
        self._started_since_read += 1
        return trial, params, seed

    def _key_of(self, params: dict[str, Any]) -> Hashable | None:
        return None if self._group_key is None else self._group_key(params)

    def _queued(self) -> bool:
        """Whether the study holds queued (WAITING) trials, which a next ask would take."""
        return count_trials(self.study, ("WAITING",), fresh=False) > 0

    def _busy(self) -> int:
        """The runner slots taken: one per task handed out with a trial still running."""
        return len({live.task for live in self._live.values() if live.task is not None})

    def _submit_pending(self) -> None:
        """Hand the started tasks to the runner while it has free slots."""
        while self._pending and self._busy() < self._runner.slots:
            task = self._pending.popleft()
            now = time.time()
            for member in task.trials:
                live = self._live.get(member.key)
                if live is None:  # pragma: no cover - abandoned meanwhile
                    continue
                live.task, live.size, live.started = task.key, len(task.trials), now
                if task.members:
                    live.trial.set_user_attr(GROUP, task.key)
                    live.trial.set_user_attr(GROUP_SIZE, len(task.members))
            self._runner.submit(task)
            for member in task.trials:
                self._emit("trial_started", trial=member.key, params=dict(member.params))

    def _decide(self, key: int, step: int, value: float) -> bool:
        with self._guard.critical():  # a storage write: a signal waits until it is done
            return self._answer(key, step, value)

    def _answer(self, key: int, step: int, value: float) -> bool:
        live = self._live.get(key)
        if live is None or self._multi:  # Optuna prunes single-objective studies only
            return False
        live.trial.report(value, step)
        self._renew_leases()
        self._emit("trial_reported", trial=key, step=step, values=(value,))
        return bool(live.trial.should_prune())

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
            self._recorder.count(live.trial.number, TrialState.FAIL, why)
            self._emit("trial_finished", trial=live.trial.number, state="FAIL", message=why)
            return
        self._live.pop(outcome.key, None)
        wall = time.time() - live.started
        state, values, reason = self._recorder.record(live.trial, outcome, wall, live.size)
        self._emit(
            "trial_finished",
            trial=live.trial.number,
            state=state.name,
            values=tuple(values) if values else None,
            message=reason,
        )

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
        self._pending.clear()
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
