"""The Python entry points: ``tunesmith.run(config)`` for any experiment config (what ``tunesmith
tune`` runs) and ``tunesmith.tune(objective, space, ...)`` for a Python function."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from tunesmith.experiment.events import OnEvent
from tunesmith.reports.summary import TuneResult

__all__ = ["TuneResult", "run", "tune"]

Overrides = Mapping[str, Any] | Iterable[str] | None


def _load(config: Any, overrides: Overrides) -> tuple[Any, str]:
    """``(ExperimentConfig, where it came from)`` from a path, a mapping or a config object."""
    from tunesmith.config.experiment import ExperimentConfig, load_experiment
    from tunesmith.config.loader import apply_overrides, set_dotted, validate
    from tunesmith.errors import ConfigError

    strings: list[str] = []
    values: dict[str, Any] = {}
    if isinstance(overrides, Mapping):
        values = dict(overrides)
    elif isinstance(overrides, str):
        strings = [overrides]
    elif overrides is not None:
        strings = list(overrides)
    if isinstance(config, (str, os.PathLike)):
        return load_experiment(os.fspath(config), strings, values), str(config)
    if isinstance(config, ExperimentConfig):
        config = config.model_dump(mode="json", exclude_unset=True)
    if not isinstance(config, Mapping):
        raise ConfigError(
            "tunesmith.run: config must be a YAML path, a mapping or an ExperimentConfig, "
            f"got {type(config).__name__}"
        )
    data = apply_overrides(dict(config), strings)
    for key, value in values.items():
        data = set_dotted(data, key, value)
    return validate(ExperimentConfig, data, "run()"), "run()"


def run(
    config: Any,
    overrides: Overrides = None,
    *,
    progress: bool | Literal["auto"] = "auto",
    on_event: OnEvent | None = None,
) -> TuneResult:
    """Run (or resume) the experiment ``config`` describes, as ``tunesmith tune`` does.

    ``config`` is a YAML path, a mapping with the same schema, or an ``ExperimentConfig``;
    ``overrides`` are ``--set``-style ``"study.n_trials=5"`` strings or a mapping of dotted keys to
    values. Bad input raises the CLI's ``ConfigError``/``DataError`` before anything is written.
    The result has ``best_params``, ``best_value``, ``trials`` (a DataFrame), ``study_name`` and
    ``storage``; for fine-tuning also ``validation``, ``test`` and ``model_path``. ``progress``:
    in a Jupyter notebook ``"auto"`` keeps one live status output up to date (elsewhere the
    library prints nothing); ``on_event`` receives every study event.
    """
    from tunesmith.errors import ConfigError
    from tunesmith.experiment.kinds import prepare
    from tunesmith.experiment.kinds import run as run_prepared
    from tunesmith.reports.progress import in_notebook, notebook_progress
    from tunesmith.reports.summary import summarise
    from tunesmith.utils.quiet import quiet_progress_bars

    experiment, where = _load(config, overrides)
    try:
        prepared = prepare(experiment)  # validates everything; writes nothing
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    quiet_progress_bars()
    display = notebook_progress() if progress and in_notebook() else None
    handlers = [h for h in (display, on_event) if h is not None]

    def both(event: Any) -> None:
        for handler in handlers:
            handler(event)

    study = run_prepared(prepared, both if handlers else None)
    return summarise(study, prepared.study.storage_url())


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
