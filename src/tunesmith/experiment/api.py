"""The Python entry point: ``tunesmith.tune(objective, space, ...)``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunesmith.experiment.events import OnEvent


@dataclass(frozen=True)
class TuneResult:
    """What a search found. ``best_params``/``best_value`` are None for multi-objective studies,
    whose Pareto front is ``best_trials``; ``trials`` is Optuna's ``trials_dataframe()``."""

    study_name: str
    storage: str
    best_params: dict[str, Any] | None
    best_value: float | None
    best_trials: list[Any]
    trials: Any
    study: Any = field(repr=False)


def _summarise(study: Any, url: str) -> TuneResult:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    multi = len(study.directions) > 1
    if not complete:
        best_trials: list[Any] = []
    elif multi:
        best_trials = list(study.best_trials)
    else:
        best_trials = [study.best_trial]
    single = best_trials[0] if best_trials and not multi else None
    return TuneResult(
        study_name=study.study_name,
        storage=url,
        best_params=dict(single.params) if single else None,
        best_value=float(single.value) if single else None,
        best_trials=best_trials,
        trials=study.trials_dataframe(),
        study=study,
    )


def tune(
    objective: Callable[..., Any],
    space: Mapping[str, Any] | Any,
    sampler: str | Mapping[str, Any] = "auto",
    pruner: str | Mapping[str, Any] = "none",
    n_trials: int | None = 20,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    direction: str = "maximize",
    directions: list[str] | None = None,
    metric: str | list[str] | None = None,
    workers: int = 1,
    runner: str = "local",
    seed: int | None = None,
    target: float | None = None,
    patience: int | None = None,
    max_consecutive_failures: int = 10,
    on_event: OnEvent | None = None,
) -> TuneResult:
    """Search ``space`` for the parameters that optimise ``objective``.

    ``objective(params)`` or ``objective(params, reporter)`` returns a float, a dict of metrics
    (``metric`` names the one to optimise) or a tuple (one value per entry of ``directions``).
    ``space`` maps dotted names to parameter specs (dicts like ``{"type": "float", "low": 0,
    "high": 1}`` or ParamSpec objects) or is a ``SearchSpace``. ``storage=None`` keeps the study in
    memory (nothing is written); give a URL (``sqlite:///study.db``) to keep and resume it. With
    ``runner="local"`` trials run in ``workers`` spawned processes (guard your script with
    ``if __name__ == "__main__":``); ``runner="inprocess"`` runs them here.
    """
    from tunesmith.config.experiment import StudyConfig
    from tunesmith.config.loader import validate
    from tunesmith.experiment.runtime import run_study
    from tunesmith.search.space import SearchSpace

    name = study_name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    data: dict[str, Any] = {
        "name": name,
        "storage": storage or "memory",
        "direction": direction,
        "directions": directions,
        "metric": metric,
        "sampler": sampler,
        "pruner": pruner,
        "n_trials": n_trials,
        "timeout": timeout,
        "target": target,
        "patience": patience,
        "workers": workers,
        "runner": runner,
        "seed": seed,
        "max_consecutive_failures": max_consecutive_failures,
    }
    config = validate(StudyConfig, data, "tune()")
    search_space = space if isinstance(space, SearchSpace) else SearchSpace.from_config(space)
    study = run_study(config, search_space, objective, on_event=on_event)
    return _summarise(study, config.storage_url())
