"""Fixed runs: configurations a study runs as they are, with no sampler choosing them.

The phases after a search (the seed re-check, the final run) run given configurations, each with
its own settings outside the search space (its seed, its epoch count). A :class:`FixedRun` is
queued as a WAITING trial: its ``params`` are the search-space values (recorded as the trial's
parameters, so tables and reports show them) and its ``overrides`` travel as a user attribute
that the coordinator adds to the parameters it hands to the worker. Queuing is resume-safe: a run
the study already holds (waiting, running or finished) is not queued again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunesmith.storage.study import RUN_OVERRIDES, enqueue


@dataclass(frozen=True)
class FixedRun:
    """One configuration to run: search-space ``params`` plus per-run ``overrides``."""

    params: Mapping[str, Any]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return run_key(self.params, self.overrides)

    @property
    def settings(self) -> dict[str, Any]:
        """Everything the objective receives: the params with the overrides written over them."""
        return {**self.params, **self.overrides}


def run_key(params: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> str:
    """A stable identity for a run: its params and overrides, sorted."""
    both = {"params": dict(params), "overrides": dict(overrides or {})}
    return json.dumps(both, sort_keys=True, default=str)


def held_run(trial: Any) -> FixedRun:
    """The run a trial of a fixed-run study holds (queued parameters before it has started)."""
    params = trial.params or trial.system_attrs.get("fixed_params", {})
    return FixedRun(dict(params), dict(trial.user_attrs.get(RUN_OVERRIDES) or {}))


def queue_missing(study: Any, runs: Sequence[FixedRun]) -> int:
    """Queue the runs that ``study`` does not hold yet; return how many were queued.

    Failed trials do not count as held: a run whose trial failed is queued again.
    """
    from optuna.trial import TrialState

    have = [held_run(t).key for t in study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    queued = 0
    for run in runs:
        if run.key in have:
            have.remove(run.key)
            continue
        enqueue(study, run.params, {RUN_OVERRIDES: dict(run.overrides)} if run.overrides else None)
        queued += 1
    return queued
