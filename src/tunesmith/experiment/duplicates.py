"""No configuration evaluated twice by accident.

A sampler can propose the very parameters of a trial the study already holds: TPE on a small or
discrete space, a float at its bound, the best value of an int. The coordinator checks each
proposal against every trial that ran or runs (complete, pruned, failed or running). A repeat is
asked again: its trial is recorded as failed with ``duplicate_of`` and a reason saying it was
re-sampled; such trials count for nothing (no trial budget, no failure streak, invisible to the
sampler). When the sampler repeats itself :data:`MAX_RESAMPLES` times in a row (a space that has
been covered, a model sure of its best point), the last proposal is run, knowingly, as another
seed of that configuration: its record says ``repeat_of`` (the first trial with those parameters)
and ``repeat_seed``. Queued trials (warm-start recipes, re-queued trials, fixed runs) are
deliberate and never checked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from tunesmith.storage.internals import trial_system_attrs
from tunesmith.storage.leases import FAIL_REASON

log = logging.getLogger(__name__)

DUPLICATE_OF = "duplicate_of"
REPEAT_OF = "repeat_of"
REPEAT_SEED = "repeat_seed"
MAX_RESAMPLES = 3
"""How many times a repeated proposal is asked again before it runs as another seed."""
REPEAT_SEED_BASE = 100_003
"""A repeat of a self-seeding objective (a fine-tuning job) gets seed ``this + trial number``."""


def params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def is_duplicate(trial: Any) -> bool:
    """Whether a frozen trial is a re-sampled repeat (a record only; it counts for nothing)."""
    return DUPLICATE_OF in trial.user_attrs


def from_queue(trial: Any) -> bool:
    """Whether a live trial was queued (``enqueue_trial``) rather than proposed by the sampler."""
    return "fixed_params" in trial_system_attrs(trial)


class Duplicates:
    """The parameters the study holds, and what to do with a proposal that repeats them."""

    def __init__(self, objective_seeds: bool, max_resamples: int = MAX_RESAMPLES) -> None:
        self.max_resamples = max_resamples
        self._objective_seeds = objective_seeds  # the objective takes a "seed" setting
        self._first: dict[str, int] = {}  # params key -> the first trial holding them
        self._done: set[int] = set()  # finished trials already indexed
        self._prefix = 0  # trials 0 .. _prefix - 1 are all finished and indexed
        self._repeats: dict[int, dict[str, Any]] = {}

    def index(self, trials: Iterable[Any]) -> None:
        """Learn the parameters of ``trials`` (frozen; finished ones are read once)."""
        from optuna.trial import TrialState

        trials = list(trials)
        # Trials come in number order (0, 1, ...): the leading finished ones were indexed by an
        # earlier call and are skipped without a look.
        start = self._prefix if len(trials) >= self._prefix else 0
        if start and trials[start - 1].number != start - 1:
            start = 0
        finished_prefix = start == self._prefix
        for i, t in enumerate(trials[start:], start):
            finished_prefix = finished_prefix and t.number == i and t.state.is_finished()
            if finished_prefix:
                self._prefix = t.number + 1
            if t.number in self._done or t.state == TrialState.WAITING:
                continue
            if t.state.is_finished():
                self._done.add(t.number)
            if t.params and not is_duplicate(t):
                self._first.setdefault(params_key(t.params), t.number)

    def check(self, trial: Any, params: Mapping[str, Any], last: bool) -> bool:
        """True when the live ``trial``'s proposal repeats a held trial and is to be asked again
        (its record says so; the caller fails it). With ``last``, a repeat is kept as another
        seed of that configuration instead, and False is returned."""
        if from_queue(trial):
            return False
        key = params_key(params)
        first = self._first.setdefault(key, trial.number)
        if first == trial.number:
            return False
        if not last:
            trial.set_user_attr(DUPLICATE_OF, first)
            trial.set_user_attr(
                FAIL_REASON, f"duplicate of trial {first}: proposed again, re-sampled"
            )
            log.info("trial %d repeats trial %d's parameters: asking again", trial.number, first)
            return True
        trial.set_user_attr(REPEAT_OF, first)
        settings: dict[str, Any] = {}
        if self._objective_seeds:
            settings["seed"] = REPEAT_SEED_BASE + trial.number
            trial.set_user_attr(REPEAT_SEED, settings["seed"])
        self._repeats[trial.number] = settings
        log.info(
            "trial %d: the sampler proposed trial %d's parameters %d times in a row; running "
            "them again as another seed",
            trial.number,
            first,
            self.max_resamples + 1,
        )
        return False

    def repeat_settings(self, trial: Any) -> dict[str, Any]:
        """Settings a repeat runs with (its own seed, for an objective that seeds itself)."""
        return self._repeats.pop(trial.number, {})
