"""Run a study: validate everything, then open the storage and hand over to the coordinator.

Order matters: the sampler, the pruner, the runner (which checks that the objective can travel) and
the objective are all built before :func:`open_study`, so a mistake leaves nothing on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tunesmith.config.experiment import ExperimentConfig, StudyConfig
from tunesmith.experiment.coordinator import Coordinator
from tunesmith.experiment.events import OnEvent

log = logging.getLogger(__name__)


def run_study(
    config: StudyConfig,
    space: Any,
    objective: Callable[..., Any],
    *,
    on_event: OnEvent | None = None,
    storage: Any = None,
) -> Any:
    """Run (or resume) the study ``config.name``; return the ``optuna.Study``.

    ``space`` is a :class:`~tunesmith.search.space.SearchSpace`; ``objective`` takes
    ``(params)`` or ``(params, reporter)``. ``storage`` may be a ready Optuna storage object
    (in-memory studies); otherwise ``config.storage_url()`` is used.
    """
    from tunesmith.runners import create_runner
    from tunesmith.search.pruners import create_pruner
    from tunesmith.search.samplers import create_sampler
    from tunesmith.storage.study import open_study

    sampler_cfg = config.sampler
    if sampler_cfg.seed is None and config.seed is not None:
        sampler_cfg = sampler_cfg.model_copy(update={"seed": config.seed})
    sampler = create_sampler(sampler_cfg, space, config.n_trials, config.all_directions)
    pruner = create_pruner(config.pruner)
    runner = create_runner(config.runner, objective, config.workers)
    try:
        study = open_study(
            config.name, config.storage_url(), config.all_directions, sampler, pruner, storage
        )
        coordinator = Coordinator(study, space, runner, config, on_event)
    except BaseException:
        runner.close()
        raise
    coordinator.run()
    return study


def prepare_experiment(
    config: ExperimentConfig,
    build: Callable[[ExperimentConfig], Callable[..., Any]] | None = None,
) -> tuple[StudyConfig, Any, Callable[..., Any]]:
    """Validate an experiment fully (space, objective) without touching storage."""
    from tunesmith.experiment.objectives import build_objective
    from tunesmith.search.space import SearchSpace

    if config.space == "default":
        from tunesmith.experiment.pipeline import space_mapping

        space = SearchSpace.from_config(space_mapping(config))
    else:
        space = SearchSpace.from_config(config.space)
    objective = (build or build_objective)(config)
    study = config.study
    default_metric = getattr(objective, "default_metric", None)
    if study.metric is None and default_metric is not None:
        study = study.model_copy(update={"metric": default_metric})
    return study, space, objective


def run_experiment(
    config: ExperimentConfig,
    *,
    build: Callable[[ExperimentConfig], Callable[..., Any]] | None = None,
    on_event: OnEvent | None = None,
) -> Any:
    """Run an experiment config: ``build`` makes its objective (default: by objective section).

    A fine-tuning experiment runs the whole pipeline: search, seed re-check, final test score,
    best-model export and report (:func:`tunesmith.experiment.pipeline.run_finetune`).
    """
    if build is None and config.objective_kind == "finetune":
        from tunesmith.experiment.pipeline import run_finetune

        return run_finetune(config, on_event=on_event)
    study_cfg, space, objective = prepare_experiment(config, build)
    return run_study(study_cfg, space, objective, on_event=on_event)
