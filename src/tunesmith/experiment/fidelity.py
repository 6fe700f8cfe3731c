"""Configurations that differ only in a fidelity parameter share one run.

A fidelity is a parameter whose value ``e`` is how far a run goes, for an objective that reports
one intermediate value per unit, at steps ``1, 2, ..., e`` (the fine-tuning objective reports
once per epoch, and ``train.epochs`` is its fidelity). When the objective makes a run of ``e``
units the start of any longer run of the same configuration (fine-tuning lays its LR schedule
out over the longest epoch count the space allows: ``train.schedule.horizon_epochs``), a
proposal needs no run of its own once the study holds a finished trial that

* has the same settings except the fidelity (its parameters and a queued run's own settings),
* went at least as far (its fidelity is ``>= e``), and
* reported every step ``1..e`` (a pruned trial counts for the steps it reported).

The proposal is then answered from that trial's reports: its value is the best of the first
``e`` (by the study's direction), its reports are those ``e``, and its record says
``fidelity_of`` (the number of the trial that ran) and its best step under the attribute a trial's
objective records it in (``best_epoch``, 1-based like the steps), so later phases read it as
any trial's. It ran nothing, so it costs nothing: its duration is about zero and no run's cost
is measured from it (it still counts as a trial of ``n_trials``); the pruner is not asked
(there is nothing left to save). A proposal that goes *further* than a finished trial runs in
full (nothing is resumed). A knowing repeat (run as another seed,
:mod:`tunesmith.experiment.duplicates`) is never answered, and a trial copied from another
study (warm start) never answers one. Single-objective studies only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.config.search import param_path
from tunesmith.errors import ConfigError
from tunesmith.experiment.duplicates import REPEAT_OF
from tunesmith.storage.study import RUN_OVERRIDES, WARM_START_FROM

log = logging.getLogger(__name__)

FIDELITY_OF = "fidelity_of"
"""User attribute of an answered trial: the number of the trial whose reports answered it."""
BEST_STEP = "best_epoch"
"""The user attribute a trial's objective records its best report's step in (1-based)."""


@dataclass(frozen=True)
class Answer:
    """What a proposal is told: ``value`` (the best of ``reports``) at ``best_step``."""

    source: int
    fidelity: int
    value: float
    best_step: int
    reports: dict[int, float]


def settings(trial: Any) -> dict[str, Any]:
    """What a trial ran with: its sampled parameters and a queued run's own settings."""
    return {**trial.params, **(trial.user_attrs.get(RUN_OVERRIDES) or {})}


def _fidelity(values: Mapping[str, Any], name: str) -> tuple[str, int, dict[str, Any]] | None:
    """(the key holding the fidelity, its value, the other settings); None when the fidelity
    is not exactly one whole number >= 1 among ``values``."""
    keys = [k for k in values if param_path(str(k)) == name]
    if len(keys) != 1:
        return None
    value = values[keys[0]]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return keys[0], value, {k: v for k, v in values.items() if k != keys[0]}


def best_report(reports: Mapping[int, float], maximize: bool) -> tuple[int, float] | None:
    """(step, value) of the best finite report, the earliest of equals; None when none is."""
    best: tuple[int, float] | None = None
    for step in sorted(reports):
        value = reports[step]
        if not math.isfinite(value):
            continue
        if best is None or (value > best[1] if maximize else value < best[1]):
            best = (step, value)
    return best


class FidelityShare:
    """Answers proposals that a finished trial's reports already cover (see the module)."""

    def __init__(self, name: str, directions: Sequence[str], best_attr: str = BEST_STEP) -> None:
        if len(directions) != 1:
            raise ConfigError(
                f"fidelity {name!r}: sharing runs across a fidelity needs a single-objective "
                f"study; got directions {list(directions)}"
            )
        self.name = name
        self.maximize = directions[0] == "maximize"
        self.best_attr = best_attr

    def find(self, trial: Any, trials: Iterable[Any]) -> Answer | None:
        """The answer for the live ``trial`` from the finished ``trials`` (frozen), or None."""
        if REPEAT_OF in trial.user_attrs:  # a deliberate new seed of a configuration
            return None
        mine = _fidelity(settings(trial), self.name)
        if mine is None:
            return None
        key, wanted, rest = mine
        for source in trials:
            if source.number == trial.number or not _can_answer(source):
                continue
            theirs = _fidelity(settings(source), self.name)
            if theirs is None or theirs[0] != key or theirs[1] < wanted or theirs[2] != rest:
                continue
            reports = {s: source.intermediate_values.get(s) for s in range(1, wanted + 1)}
            if any(v is None for v in reports.values()):
                continue
            done = {s: float(v) for s, v in reports.items() if v is not None}
            best = best_report(done, self.maximize)
            if best is None:
                continue
            ran = source.user_attrs.get(FIDELITY_OF, source.number)  # the trial that trained
            return Answer(int(ran), wanted, best[1], best[0], done)
        return None

    def answer(self, trial: Any, trials: Iterable[Any]) -> float | None:
        """Record the answer for the live ``trial`` (its reports and attributes) and return its
        value; None when no finished trial covers it (it runs)."""
        found = self.find(trial, trials)
        if found is None:
            return None
        for step, value in found.reports.items():
            trial.report(value, step)
        trial.set_user_attr(FIDELITY_OF, found.source)
        trial.set_user_attr(self.best_attr, found.best_step)
        log.info(
            "trial %d: %s=%d is the start of trial %d's run; answered from its first %d "
            "reports (best %.6g at step %d), not run",
            trial.number,
            self.name,
            found.fidelity,
            found.source,
            found.fidelity,
            found.value,
            found.best_step,
        )
        return found.value


def _can_answer(trial: Any) -> bool:
    """A finished run of this study: complete or pruned, not a copy of another study's trial."""
    return trial.state.name in ("COMPLETE", "PRUNED") and WARM_START_FROM not in trial.user_attrs
