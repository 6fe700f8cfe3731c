"""The Python entry point: ``tunesmith.tune(objective, space, ...)``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tunesmith.experiment.events import OnEvent
from tunesmith.reports.summary import TuneResult

__all__ = ["TuneResult", "tune"]


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
    runner: str | None = None,
    seed: int | None = None,
    target: float | None = None,
    patience: int | None = None,
    max_consecutive_failures: int = 10,
    on_event: OnEvent | None = None,
    **settings: Any,
) -> TuneResult:
    """Search ``space`` for the parameters that optimise ``objective``.

    ``objective(params)`` or ``objective(params, reporter)`` returns a float, a dict of metrics
    (``metric`` names the one to optimise) or a tuple (one value per entry of ``directions``).
    ``space`` maps dotted names to parameter specs (dicts like ``{"type": "float", "low": 0,
    "high": 1}`` or ParamSpec objects) or is a ``SearchSpace``. ``storage=None`` keeps the study in
    memory (nothing is written); give a URL (``sqlite:///study.db``) to keep and resume it. With
    ``runner="local"`` (the default) trials run in ``workers`` spawned processes (guard your
    script with ``if __name__ == "__main__":``); ``runner="inprocess"`` runs them here. Further
    ``study.*`` keys go in ``settings`` (``trial_timeout``, ``worker_memory_mb``,
    ``max_trials_per_worker``, ``gpus_per_trial``, ``cpus_per_trial``, ``ray_address``,
    ``lease_seconds``).
    """
    from tunesmith.config.experiment import StudyConfig
    from tunesmith.config.loader import validate
    from tunesmith.experiment.kinds import run
    from tunesmith.experiment.runtime import Prepared
    from tunesmith.reports.summary import summarise
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
        # default: local, or ray when settings give a ray_address (which implies it)
        "runner": runner or ("ray" if settings.get("ray_address") else "local"),
        "seed": seed,
        "max_consecutive_failures": max_consecutive_failures,
        **settings,
    }
    config = validate(StudyConfig, data, "tune()")
    search_space = space if isinstance(space, SearchSpace) else SearchSpace.from_config(space)
    study = run(Prepared("objective", config, search_space, objective), on_event)
    return summarise(study, config.storage_url())
