"""Run a study: build its sampler, pruner and runner, open the storage, start the coordinator.

Order matters: the sampler, the pruner and the runner (which checks that the objective can travel)
are built before the study is opened, so a mistake leaves nothing on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.config.experiment import StudyConfig
from tunesmith.experiment.coordinator import Coordinator
from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.fixed import FixedRun, queue_missing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """An experiment validated and built, with nothing written yet.

    ``kind`` names its objective kind (:mod:`tunesmith.experiment.kinds`), which runs it;
    ``config`` is the experiment config it came from (None for ``tunesmith.tune``).
    """

    kind: str
    study: StudyConfig
    space: Any
    objective: Callable[..., Any]
    config: Any = None


def run_study(
    config: StudyConfig,
    space: Any,
    objective: Callable[..., Any],
    *,
    on_event: OnEvent | None = None,
    storage: Any = None,
    runs: Sequence[FixedRun] | None = None,
    trial_cost: float | None = None,
    group_key: Callable[[dict[str, Any]], Hashable | None] | None = None,
    max_group: int = 1,
) -> Any:
    """Run (or resume) the study ``config.name``; return the ``optuna.Study``.

    ``space`` is a :class:`~tunesmith.search.space.SearchSpace`; ``objective`` takes
    ``(params)`` or ``(params, reporter)``. ``storage`` may be a ready Optuna storage object
    (in-memory studies); otherwise ``config.storage_url()`` is used. With ``runs``, the study
    runs exactly those configurations (the ones it does not hold yet are queued) and asks the
    sampler for nothing else. ``trial_cost``: the seconds a trial is expected to take before one
    has been measured (a study with a timeout starts no trial that cannot finish in time).
    ``group_key`` and ``max_group``: queued trials whose parameters have the same (not None)
    group key run together as one group task of up to ``max_group`` trials
    (:class:`~tunesmith.experiment.coordinator.Coordinator`).
    """
    from tunesmith.runners import create_runner, limits_of
    from tunesmith.search.pruners import create_pruner
    from tunesmith.search.samplers import create_sampler
    from tunesmith.storage.study import open_study, record_metric_names
    from tunesmith.storage.writebehind import close_storage, coordinator_storage
    from tunesmith.trackers import check_trackers, open_trackers

    check_trackers(config)
    sampler_cfg = config.sampler
    if sampler_cfg.seed is None and config.seed is not None:
        sampler_cfg = sampler_cfg.model_copy(update={"seed": config.seed})
    sampler = create_sampler(sampler_cfg, space, config.n_trials, config.all_directions)
    pruner = create_pruner(config.pruner)
    runner = create_runner(config.runner, objective, config.workers, limits_of(config))
    if storage is None:  # this process writes the study: its trials are written in batches
        storage = coordinator_storage(config.storage_url())
    try:
        study = open_study(
            config.name, config.storage_url(), config.all_directions, sampler, pruner, storage
        )
        record_metric_names(study, config.metric_names)  # the report names the metric
        held = sum(t.state.name != "WAITING" for t in study.get_trials(deepcopy=False))
        if held and sampler_cfg.seed is not None:
            # A resumed study must not draw the first run's points again: the seed moves on by
            # the number of trials the study already holds (still deterministic).
            moved = sampler_cfg.model_copy(update={"seed": sampler_cfg.seed + held})
            study.sampler = create_sampler(moved, space, config.n_trials, config.all_directions)
        if runs is not None:
            queue_missing(study, runs)
        trackers = open_trackers(config)
        coordinator = Coordinator(
            study,
            space,
            runner,
            config,
            _both(on_event, trackers.handle) if trackers else on_event,
            fixed=runs is not None,
            # An objective that seeds itself (a fine-tuning job seeds from its config) gets no
            # second seed from the study: one seed owner per trial.
            seed_trials=not getattr(objective, "seeds_itself", False),
            trial_cost=trial_cost,
            group_key=group_key,
            max_group=max_group,
        )
    except BaseException:
        runner.close()
        close_storage(storage)
        raise
    try:
        coordinator.run()
    finally:
        close_storage(storage)  # every waiting write is committed before the run returns
        trackers.close()
    return study


def _both(first: OnEvent | None, second: OnEvent) -> OnEvent:
    """Call the display's ``on_event`` (if any), then the trackers'."""

    def on_event(event: Any) -> None:
        if first is not None:
            first(event)
        second(event)

    return on_event
