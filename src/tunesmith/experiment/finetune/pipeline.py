"""A fine-tuning search from one experiment config, start to finish.

1. validate everything before any storage: the base job, every space path, the data (train,
   validation and the test file's labels), the metric's direction;
2. warm start: enqueue the family's published recipes (projected on the space) and/or copy the
   complete trials of an earlier study, once per study;
3. the search (trials in workers, per-epoch pruning, best-epoch scores);
4. seed re-check of the top k, one test evaluation of the winner, ``runs/<name>/best/`` and the
   HTML report in ``runs/<name>/report/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from tunesmith.errors import ConfigError
from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.finetune.objective import (
    JOB_SECTIONS,
    FinetuneObjective,
    check_space_paths,
    validate_job,
)
from tunesmith.experiment.runtime import Prepared, run_study

log = logging.getLogger(__name__)

WARM_STARTED = "tunesmith_warm_started"


def run_dir_of(config: Any) -> Path:
    """``runs/<study name>`` under the current folder (the name is already a safe name)."""
    from tunesmith.storage.paths import safe_child

    return Path(safe_child(Path("runs"), config.study.name, "study.name"))


def job_base(config: Any) -> dict[str, Any]:
    """The base job mapping (model, data, train, seed) of a fine-tuning experiment."""
    dumped = config.model_dump(mode="json", include=set(JOB_SECTIONS))
    return {k: v for k, v in dumped.items() if v is not None}


def build_finetune_objective(config: Any, space: Any) -> FinetuneObjective:
    """Validate the fine-tuning sections, ``space``'s paths and the data; return the objective."""
    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.job import model_preprocessing
    from tunesmith.engine.metrics import get_metric

    base = job_base(config)
    job = validate_job(base, "the base job")
    check_space_paths(base, space)
    metric = job.train.resolved_metric(job.data.task)
    wanted = "maximize" if get_metric(metric).greater_is_better else "minimize"
    if config.study.all_directions != [wanted]:
        raise ConfigError(
            f"study.direction: the selection metric {metric!r} is best when it is "
            f"{'high' if wanted == 'maximize' else 'low'}, so the study must {wanted}; "
            f"got {config.study.all_directions}"
        )
    if config.study.metric not in (None, metric):
        raise ConfigError(
            f"study.metric: a fine-tuning study optimises train.metric ({metric!r}); "
            f"got {config.study.metric!r}"
        )
    data = build_data(
        job.data, image_size=job.model.image_size, preprocessing=model_preprocessing(job)
    )
    data.test()  # checks the test file's format and labels now, not after hours of search
    run_dir = run_dir_of(config)
    return FinetuneObjective(
        base, metric, str(run_dir / "trials"), cache_dir=str(run_dir / "cache" / "features")
    )


def _project(recipe: Mapping[str, Any], space: Any) -> dict[str, Any] | None:
    """Keep a recipe's values for parameters in the space; None if one is out of its range.

    A recipe names config paths; each lands on the space parameter that writes that path and is
    active given the values taken so far (``train.optimizer.lr`` → ``train.optimizer.lr@full``
    when the recipe trains every layer).
    """
    from tunesmith.config.search import param_path

    out: dict[str, Any] = {}
    dists = space.distributions()
    for name in space.names:
        path = param_path(name)
        dist = dists.get(name)
        if dist is None or path not in recipe or not space.is_active(name, out):
            continue
        value = recipe[path]
        try:
            dist.to_internal_repr(value)
        except (ValueError, TypeError):
            return None
        if hasattr(dist, "low") and not dist.low <= value <= dist.high:
            return None
        out[name] = value
    return out or None


def collapse_epochs(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Configurations that differ only in ``train.epochs`` become one run of the longest count.

    Every epoch is evaluated and the trial records its best epoch count (which the final run
    uses), so the shorter runs would only repeat the start of the longest one. Order is kept.
    """
    out: list[dict[str, Any]] = []
    where: dict[str, int] = {}
    for config in configs:
        rest = {k: v for k, v in config.items() if k.split("@", 1)[0] != "train.epochs"}
        key = repr(sorted(rest.items()))
        epochs = [v for k, v in config.items() if k.split("@", 1)[0] == "train.epochs"]
        if key not in where:
            where[key] = len(out)
            out.append(dict(config))
        elif epochs:
            kept = out[where[key]]
            for k, v in config.items():
                if k.split("@", 1)[0] == "train.epochs" and v > kept.get(k, v):
                    kept[k] = v
    return out


def projected_recipes(config: Any, space: Any) -> list[dict[str, Any]]:
    """The family's recipes projected on ``space``, those differing only in epochs merged, at
    most ``warm_start.max_recipes`` of them (none without ``warm_start: recipes``)."""
    from tunesmith.search.defaults import recipes

    ws = config.warm_start
    if ws is None or not ws.recipes:
        return []
    seen: list[dict[str, Any]] = []
    for recipe in recipes(config.model.kind):
        projected = _project(recipe, space)
        if projected is not None and projected not in seen:
            seen.append(projected)
    return collapse_epochs(seen)[: ws.max_recipes]


def cost_aware(config: Any, space: Any) -> bool:
    """Whether the search runs the cost-aware schedule: the default space, a sampler that
    proposes (not a grid), and a freezing-strategy choice to schedule."""
    from tunesmith.config.search import CategoricalParam

    strategy = space.specs.get("train.freezing.strategy")
    return (
        config.space == "default"
        and config.study.sampler.name != "grid"
        and isinstance(strategy, CategoricalParam)
    )


def warm_start(config: Any, space: Any, study: Any, *, queue_recipes: bool = True) -> int:
    """Enqueue recipes / copy an earlier study's trials, once per study; return how many.

    ``queue_recipes=False``: the cost-aware schedule runs the recipes when it can afford them.
    """
    from optuna.trial import TrialState

    from tunesmith.storage.study import add_finished_trial, enqueue, load_existing_study

    ws = config.warm_start
    if ws is None or study.user_attrs.get(WARM_STARTED):
        return 0
    added = 0
    if queue_recipes:
        for params in projected_recipes(config, space):
            enqueue(study, params)
            added += 1
    if ws.study is not None:
        earlier = load_existing_study(ws.study, config.study.storage_url())
        dists = space.distributions()
        for t in earlier.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if not t.params or not set(t.params) <= set(dists) or t.value is None:
                continue
            try:
                add_finished_trial(
                    study,
                    t.params,
                    {k: dists[k] for k in t.params},
                    t.value,
                    {"warm_start_from": f"{ws.study}#{t.number}"},
                )
                added += 1
            except ValueError:
                log.info("warm start: trial %d of %s does not fit this space", t.number, ws.study)
    study.set_user_attr(WARM_STARTED, added)
    log.info("warm start: %d trial(s) from %s", added, ws)
    return added


def _schedule(
    config: Any, space: Any, study: Any, objective: FinetuneObjective, then: OnEvent | None
) -> OnEvent:
    from tunesmith.experiment.finetune.schedule import CostAwareSchedule, build_arms

    epochs = int(objective.base.get("train", {}).get("epochs", 3))
    arms, recipes = build_arms(space, projected_recipes(config, space), epochs)
    return CostAwareSchedule(
        study,
        arms,
        recipes,
        timeout=config.study.timeout,
        workers=config.study.workers,
        maximize=config.study.all_directions[0] == "maximize",
        then=then,
    )


class FinetuneKind:
    """The fine-tuning experiment: a search, then the seed re-check, the final run and outputs."""

    leaderboard = True  # the summary shows the leaderboard, the re-check and the final scores

    def prepare(self, config: Any) -> Prepared:
        """Validate the job, the space (``space: default`` resolved) and the data; write nothing."""
        from tunesmith.search.defaults import resolve_space
        from tunesmith.search.space import SearchSpace

        space = SearchSpace.from_config(resolve_space(config.space, config.model.kind))
        objective = build_finetune_objective(config, space)
        study = config.study
        if study.metric is None:
            study = study.model_copy(update={"metric": objective.metric})
        return Prepared("finetune", study, space, objective, config)

    def run(self, prepared: Prepared, on_event: OnEvent | None = None) -> Any:
        return run_finetune(prepared, on_event=on_event)


def run_finetune(prepared: Prepared, *, on_event: OnEvent | None = None) -> Any:
    """Run a whole fine-tuning experiment; return the search study (with its records set)."""
    from tunesmith.experiment.finetune.outputs import write_best_folder
    from tunesmith.experiment.finetune.phases import run_final, run_recheck
    from tunesmith.storage.study import make_storage, open_study

    config = prepared.config
    study_cfg, space = prepared.study, prepared.space
    objective = cast(FinetuneObjective, prepared.objective)
    run_dir = run_dir_of(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    storage = make_storage(study_cfg.storage_url())
    pre = open_study(
        study_cfg.name, study_cfg.storage_url(), study_cfg.all_directions, storage=storage
    )
    search_events = on_event
    if cost_aware(config, space):
        warm_start(config, space, pre, queue_recipes=False)
        search_events = _schedule(config, space, pre, objective, on_event)
    else:
        warm_start(config, space, pre)
    study = run_study(study_cfg, space, objective, on_event=search_events, storage=storage)
    base_seed = int(objective.base.get("seed", 0))
    winner = run_recheck(
        study,
        study_cfg,
        space,
        objective,
        top_k=config.recheck.top_k,
        seeds=config.recheck.seeds,
        base_seed=base_seed,
        on_event=on_event,
    )
    if winner is None:
        raise ConfigError(
            f"study {study_cfg.name!r}: no trial completed, so there is no model to export"
        )
    record = run_final(
        study,
        study_cfg,
        space,
        objective,
        params=winner["params"],
        trial=winner["trial"],
        run_dir=run_dir,
        train_on_validation=config.final.train_on == "train+validation",
        on_event=on_event,
    )
    write_best_folder(run_dir, study, record, objective.base)
    try:
        from tunesmith.reports import write_report

        write_report(study, run_dir / "report")
    except Exception as exc:  # the model is safe; a report failure must not hide it
        log.warning("report not written: %s", exc)
    return study
