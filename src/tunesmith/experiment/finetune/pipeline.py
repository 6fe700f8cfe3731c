"""A fine-tuning search from one experiment config, start to finish.

1. validate everything before any storage: the base job, every space path, the data (train,
   validation and the test file's labels), the metric's direction;
2. warm start (:mod:`tunesmith.experiment.warm_start`): enqueue the family's published recipes
   (every key they set) and/or copy the complete trials of an earlier study, once per study;
3. the search (trials in workers, per-epoch pruning, best-epoch scores; a searched
   ``train.epochs`` is a fidelity: :mod:`tunesmith.experiment.finetune.epochs`);
4. seed re-check of the top k, one test evaluation of the winner, ``runs/<name>/best/`` and the
   HTML report in ``runs/<name>/report/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from tunesmith.errors import ConfigError
from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.finetune.epochs import EPOCHS, plan_epochs
from tunesmith.experiment.finetune.objective import (
    JOB_SECTIONS,
    FinetuneObjective,
    check_space_paths,
    job_mapping,
    validate_job,
)
from tunesmith.experiment.finetune.pareto import check_objectives, is_multi
from tunesmith.experiment.runtime import Prepared, run_study

log = logging.getLogger(__name__)


def run_dir_of(config: Any) -> Path:
    """``runs/<study name>`` under the current folder (the name is already a safe name)."""
    from tunesmith.storage.paths import safe_child

    return Path(safe_child(Path("runs"), config.study.name, "study.name"))


def job_base(config: Any) -> dict[str, Any]:
    """The base job mapping (model, data, train, seed) of a fine-tuning experiment."""
    dumped = config.model_dump(mode="json", include=set(JOB_SECTIONS))
    return {k: v for k, v in dumped.items() if v is not None}


def direction_given(study: Any) -> bool:
    """Whether the config names the study's direction (else it follows the metric)."""
    return "direction" in study.model_fields_set or study.directions is not None


def metric_direction(metric: str) -> str:
    """``maximize`` for a greater-is-better metric (accuracy), else ``minimize`` (mse)."""
    from tunesmith.engine.metrics import get_metric

    return "maximize" if get_metric(metric).greater_is_better else "minimize"


def build_finetune_objective(config: Any, space: Any) -> FinetuneObjective:
    """Validate the fine-tuning sections, ``space``'s paths and the data; return the objective."""
    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.job import model_preprocessing

    base = job_base(config)
    job = validate_job(base, "the base job")
    check_space_paths(base, space)
    metric = job.train.resolved_metric(job.data.task)
    wanted = metric_direction(metric)
    multi = is_multi(config.study)
    if multi:  # the validation metric against inference cost (experiment.finetune.pareto)
        check_objectives(config.study, metric, wanted)
    elif direction_given(config.study) and config.study.all_directions != [wanted]:
        raise ConfigError(
            f"study.direction: the selection metric {metric!r} is best when it is "
            f"{'high' if wanted == 'maximize' else 'low'}, so the study must {wanted}; "
            f"got {config.study.all_directions}"
        )
    if not multi and config.study.metric not in (None, metric):
        raise ConfigError(
            f"study.metric: a fine-tuning study optimises train.metric ({metric!r}); "
            f"got {config.study.metric!r}"
        )
    data = build_data(
        job.data, image_size=job.model.image_size, preprocessing=model_preprocessing(job)
    )
    data.test()  # checks the test file's format and labels now, not after hours of search
    if job.distill is not None:  # a teacher that cannot teach: an error now, not in every trial
        from tunesmith.engine.distill import check_teacher

        check_teacher(job.distill.teacher_path(), data.label_map, data.modality)
    searched = [n for n in space.names if n.startswith("data.augment.")]
    if searched and data.modality != "image":
        raise ConfigError(
            f"space.{searched[0]}: image augmentation does nothing to {data.modality} data, so "
            f"searching it would do nothing; got {space.specs[searched[0]]}"
        )
    run_dir = run_dir_of(config)
    epochs = plan_epochs(config, space, base)  # a searched train.epochs: one schedule horizon
    return FinetuneObjective(
        base,
        metric,
        str(run_dir / "trials"),
        cache_dir=str(run_dir / "cache" / "features"),
        merge_lora=config.final.merge_lora,
        measure_cost=multi,
        horizon_epochs=None if epochs is None else epochs.horizon,
    )


def family_recipes(config: Any, base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The model family's recipes that make a valid job from ``base`` (every key they set),
    those that differ only in ``train.epochs`` merged into one run of the longest count."""
    from tunesmith.search.defaults import recipes

    if config.warm_start is None or not config.warm_start.recipes:
        return []
    out = []
    for recipe in recipes(config.model.kind):
        try:
            validate_job(job_mapping(base, recipe), "a recipe")
        except ConfigError as exc:
            log.info("warm start: recipe %s does not fit this job: %s", recipe, exc)
            continue
        out.append(recipe)
    return collapse_epochs(out)


def _project(recipe: Mapping[str, Any], space: Any) -> dict[str, Any] | None:
    """A recipe's values for the space's active parameters (``@`` variants understood); None
    when a value is out of its range or no parameter takes one."""
    from tunesmith.experiment.warm_start import project

    split = project(recipe, space)
    return (split[0] or None) if split is not None else None


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
    """The family's recipes projected on ``space`` (their space parameters), those differing only
    in epochs merged, at most ``warm_start.max_recipes`` (none without ``warm_start: recipes``)."""
    return [params for params, _ in _recipe_runs(config, space)]


def _recipe_runs(config: Any, space: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(space parameters, run overrides) of each recipe the search may run."""
    from tunesmith.experiment.warm_start import recipe_runs

    ws = config.warm_start
    if ws is None or not ws.recipes:
        return []
    return recipe_runs(family_recipes(config, job_base(config)), space, ws.max_recipes)


def cost_aware(config: Any, space: Any) -> bool:
    """Whether the search runs the cost-aware schedule: the default space, a sampler that
    proposes (not a grid), and a freezing-strategy choice to schedule."""
    from tunesmith.config.search import CategoricalParam

    strategy = space.specs.get("train.freezing.strategy")
    return (
        config.space == "default"
        and not is_multi(config.study)  # the schedule ranks strategies by one score
        and config.study.sampler.name != "grid"
        and isinstance(strategy, CategoricalParam)
    )


def warm_start(config: Any, space: Any, study: Any, *, queue_recipes: bool = True) -> int:
    """Enqueue recipes / copy an earlier study's trials, once per study; return how many.

    ``queue_recipes=False``: the cost-aware schedule runs the recipes when it can afford them.
    """
    from tunesmith.experiment.warm_start import warm_start as start

    recipes = family_recipes(config, job_base(config)) if queue_recipes else []
    return start(config.warm_start, config.study, space, study, recipes)


def _schedule(
    config: Any,
    space: Any,
    study: Any,
    objective: FinetuneObjective,
    then: OnEvent | None,
    timeout: float | None,
    n_trials: int | None = None,
) -> OnEvent:
    from tunesmith.experiment.finetune.schedule import HEAD_BATCH, CostAwareSchedule, build_arms

    epochs = int(objective.base.get("train", {}).get("epochs", 3))
    runs = _recipe_runs(config, space)
    arms, recipes = build_arms(space, [params for params, _ in runs], epochs)
    return CostAwareSchedule(
        study,
        arms,
        recipes,
        overrides={f"recipe{i}": overrides for i, (_, overrides) in enumerate(runs)},
        timeout=timeout,
        workers=config.study.workers,
        maximize=config.study.all_directions[0] == "maximize",
        then=then,
        batch=HEAD_BATCH if objective.batch_heads else 1,
        n_trials=n_trials,
    )


class FinetuneKind:
    """The fine-tuning experiment: a search, then the seed re-check, the final run and outputs."""

    leaderboard = True  # the summary shows the leaderboard, the re-check and the final scores

    def prepare(self, config: Any) -> Prepared:
        """Validate the job, the space (``space: default`` resolved) and the data; write nothing."""
        from tunesmith.search.defaults import resolve_space
        from tunesmith.search.space import SearchSpace

        distill = config.distill is not None
        space = SearchSpace.from_config(resolve_space(config.space, config.model.kind, distill))
        objective = build_finetune_objective(config, space)
        if config.warm_start is not None and config.warm_start.study is not None:
            from tunesmith.experiment.warm_start import find_source

            find_source(config.warm_start, config.study)  # missing: an error now, not later
        study = config.study
        if study.metric is None:
            study = study.model_copy(update={"metric": objective.metric})
        if not direction_given(study):  # the metric's own: minimize for mse (regression)
            study = study.model_copy(update={"direction": metric_direction(objective.metric)})
        return Prepared("finetune", study, space, objective, config)

    def run(self, prepared: Prepared, on_event: OnEvent | None = None) -> Any:
        return run_finetune(prepared, on_event=on_event)


def run_finetune(prepared: Prepared, *, on_event: OnEvent | None = None) -> Any:
    """Run a whole fine-tuning experiment; return the search study (with its records set).

    With ``study.timeout``, the timeout bounds the whole run (:mod:`tunesmith.experiment.budget`):
    the plan is printed and recorded (``study.user_attrs["budget"]``), the search gets its share,
    and the re-check and the final run are sized to the time left.
    """
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
    budget = start_budget(study_cfg, pre)
    search_cfg = study_cfg
    if budget is not None:
        search_s = max(1.0, budget.plan.search_seconds() - budget.elapsed())
        search_cfg = study_cfg.model_copy(update={"timeout": search_s})
    search_events = on_event
    if cost_aware(config, space):  # the schedule spends the search's share of the budget
        # Head trials train as batched head trials, several per pass when queued together; the
        # re-check reruns them the same way (the final phase loads their saved weights).
        objective = replace(objective, batch_heads=True)
        warm_start(config, space, pre, queue_recipes=False)
        search_events = _schedule(
            config, space, pre, objective, on_event, search_cfg.timeout, search_cfg.n_trials
        )
    else:
        warm_start(config, space, pre)
    epochs = plan_epochs(config, space, objective.base)
    if epochs is not None:  # a shorter trial is the start of a longer one (finetune.epochs)
        log.info("%s", epochs.line())
        pre.set_user_attr("epochs_fidelity", epochs.as_dict())
    fidelity = EPOCHS if epochs is not None and epochs.share else None
    grouping: dict[str, Any] = {}
    if objective.batch_heads:  # queued head trials that share a group key train together
        from tunesmith.experiment.finetune.schedule import HEAD_BATCH

        grouping = {"group_key": objective.group_key, "max_group": HEAD_BATCH}
    study = run_study(
        search_cfg,
        space,
        objective,
        on_event=search_events,
        storage=storage,
        fidelity=fidelity,
        **grouping,
    )
    base_seed = int(objective.base.get("seed", 0))
    picked = None
    if is_multi(study_cfg):  # final.pick chooses the front member to re-check and export
        from tunesmith.experiment.finetune.pareto import choose

        picked = choose(study, study_cfg, config.final.pick)
    winner = run_recheck(
        study,
        study_cfg,
        space,
        objective,
        top_k=config.recheck.top_k,
        seeds=config.recheck.seeds,
        base_seed=base_seed,
        on_event=on_event,
        budget=budget,
        final_retrains=config.final.train_on == "train+validation",
        only=None if picked is None else picked["trial"],
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
        budget=budget,
    )
    write_best_folder(run_dir, study, record, objective.base)
    if config.final.ensemble is not None:
        from tunesmith.experiment.finetune.ensemble import run_ensemble

        run_ensemble(study, objective.trials_dir, k=config.final.ensemble, run_dir=run_dir)
    try:
        from tunesmith.reports import write_report

        write_report(study, run_dir / "report")
    except Exception as exc:  # the model is safe; a report failure must not hide it
        log.warning("report not written: %s", exc)
    if budget is not None:
        budget.note(f"whole run: {budget.elapsed():.1f} s of {budget.plan.total:.0f} s")
        log.info("budget: %s", budget.plan.notes[-1])
        study.set_user_attr("budget", budget.plan.as_dict())
    return study


def start_budget(study_cfg: Any, study: Any) -> Any:
    """The run's budget when ``study.timeout`` is set (else None): print and record the plan.

    The search's expected trial cost is the median duration of the trials the study already
    completed (a resumed study); a new study measures it as it runs.
    """
    import time

    from optuna.trial import TrialState

    from tunesmith.experiment.budget import Plan, RunBudget, expected_cost, trial_seconds

    if study_cfg.timeout is None:
        return None
    plan = Plan(float(study_cfg.timeout))
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    seconds = [s for s in (trial_seconds(t) for t in done) if s is not None]
    plan.expected["search"] = expected_cost(seconds)
    for line in plan.lines():
        log.info("%s", line)
    study.set_user_attr("budget", plan.as_dict())
    return RunBudget(plan, time.monotonic(), time.monotonic)
