"""After a fine-tuning search: seed re-check, one honest test evaluation, export and report.

Each phase is a small study of its own in the same storage (``<name>.recheck``, ``<name>.final``)
with its trials enqueued up front, so the phases run in worker processes like any trial and a
crash resumes them: trials already complete count toward their budget and are not rerun.

* **Seed re-check:** the top ``k`` configurations of the search run again with ``m`` more seeds;
  the winner is the best *mean* validation score (``study.user_attrs["recheck"]``).
* **Final:** the winner's search run saved its trained weights; they are loaded (or, when missing,
  the winner trains once more with the search seed) and evaluated on the test split, the first and
  only time the test split is read; the model is exported to ``runs/<name>/best/model``
  (``study.user_attrs["final"]``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from tunesmith.experiment.finetune import FinetuneObjective

log = logging.getLogger(__name__)

RunStudy = Callable[..., Any]
MAX_RECHECK_SEEDS = 20  # RecheckConfig.seeds' upper bound


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def _phase_study_config(config: Any, name: str, n_trials: int, metric: str) -> Any:
    return config.model_copy(
        update={
            "name": name,
            "storage": config.storage_url(),
            "n_trials": n_trials,
            "timeout": None,
            "target": None,
            "patience": None,
            "metric": metric,
            "sampler": config.sampler.model_copy(update={"name": "random", "options": {}}),
            "pruner": config.pruner.model_copy(update={"name": "none", "options": {}}),
        }
    )


def _enqueue_missing(
    name: str, url: str, directions: list[str], wanted: list[dict[str, Any]]
) -> int:
    """Enqueue the wanted param sets that the phase study does not hold yet (resume-safe).

    Returns the phase's trial budget: every trial it holds that did not fail (finished ones
    count toward ``n_trials`` on a resume; waiting ones, old or just enqueued, still have to
    run), so a phase whose wanted set changed between runs (another ``top_k``, a retrain on
    train + validation) still runs the new ones.
    """
    import optuna

    from tunesmith.storage.study import make_storage

    storage = make_storage(url)
    study = optuna.create_study(
        study_name=name, storage=storage, directions=cast(Any, directions), load_if_exists=True
    )
    have = [
        _key(t.params or t.system_attrs.get("fixed_params", {}))
        for t in study.get_trials(deepcopy=False)
        if t.state != optuna.trial.TrialState.FAIL
    ]
    for params in wanted:
        k = _key(params)
        if k in have:
            have.remove(k)
        else:
            study.enqueue_trial(params, skip_if_exists=False)
    failed = optuna.trial.TrialState.FAIL
    return sum(t.state != failed for t in study.get_trials(deepcopy=False))


def _phase_space(space: Any, extra: Mapping[str, Any]) -> Any:
    from tunesmith.search.space import SearchSpace

    specs = {name: spec.model_dump() for name, spec in space.specs.items()}
    specs.update(extra)
    return SearchSpace.from_config(specs)


def run_recheck(
    study: Any,
    config: Any,
    space: Any,
    objective: FinetuneObjective,
    *,
    top_k: int,
    seeds: int,
    base_seed: int,
    run_study: RunStudy,
) -> dict[str, Any] | None:
    """Rerun the top ``top_k`` configurations with ``seeds`` more seeds; return the winner row."""
    import optuna

    from tunesmith.search.recheck import Candidate, RecheckRow, extra_seeds, rank
    from tunesmith.search.recheck import top_k as pick

    maximize = config.all_directions[0] == "maximize"
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    cands = pick(
        [
            Candidate(t.number, t.params, float(t.value), base_seed)
            for t in done
            if t.value is not None
        ],
        top_k,
        maximize,
    )
    if not cands:
        return None
    rows = {
        _key(c.params): RecheckRow(c.trial, dict(c.params), [base_seed], [c.score]) for c in cands
    }
    if seeds > 0:
        new_seeds = extra_seeds(base_seed, seeds)
        name = f"{config.name}.recheck"
        wanted = [{**c.params, "seed": s} for c in cands for s in new_seeds]
        budget = _enqueue_missing(name, config.storage_url(), config.all_directions, wanted)
        # The choices stay the same whatever ``seeds`` is (a categorical parameter may not
        # change its choices within a study), so a resume with more seeds reuses the study.
        all_seeds = extra_seeds(base_seed, MAX_RECHECK_SEEDS)
        phase_space = _phase_space(space, {"seed": {"type": "categorical", "choices": all_seeds}})
        phase_obj = objective.phase(str(Path(objective.trials_dir).parent / "recheck"))
        phase_cfg = _phase_study_config(config, name, budget, objective.metric)
        phase = run_study(phase_cfg, phase_space, phase_obj)
        for t in phase.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            params = dict(t.params)
            seed = params.pop("seed")
            row = rows.get(_key(params))
            if row is not None and t.value is not None and seed not in row.seeds:
                row.seeds.append(int(seed))
                row.scores.append(float(t.value))
    ordered = rank(list(rows.values()), maximize)
    study.set_user_attr("recheck", [r.as_dict() for r in ordered])
    return ordered[0].as_dict()


def run_final(
    study: Any,
    config: Any,
    space: Any,
    objective: FinetuneObjective,
    *,
    params: Mapping[str, Any],
    trial: int,
    run_dir: Path,
    run_study: RunStudy,
    train_on_validation: bool = False,
) -> dict[str, Any]:
    """Load (or retrain) the winner, evaluate it on the test split once, export it.

    With ``train_on_validation`` the winner trains again on train + validation for as many
    epochs as its best search epoch, and the validation scores reported are the search's (the
    retrained model has seen the validation split).
    """
    import optuna

    name = f"{config.name}.final"
    export_dir = run_dir / "best" / "model"
    winner = next(t for t in study.get_trials(deepcopy=False) if t.number == trial)
    params = dict(params)
    phase_space = space
    if train_on_validation:
        epochs = int(winner.user_attrs.get("best_epoch") or 0) or None
        if epochs is None:
            epochs = int(params.get("train.epochs", objective.base["train"].get("epochs", 1)))
        params["train.epochs"] = epochs
        # An int range (Optuna lets its bounds differ between trials of a study, unlike a
        # categorical's choices) that holds the enqueued value.
        spec = {"type": "int", "low": 1, "high": max(2, epochs)}
        phase_space = _phase_space(space, {"train.epochs": spec})
    budget = _enqueue_missing(name, config.storage_url(), config.all_directions, [params])
    # Without retraining, the winner's search run saved its trained weights: evaluate those (the
    # model whose validation score won) instead of training it again; a missing or mismatched
    # file retrains.
    source = Path(objective.trials_dir) / f"{trial:05d}"
    final_obj = objective.phase(
        str(run_dir / "final"),
        mode="final",
        export_dir=str(export_dir),
        reuse_from=None if train_on_validation else str(source),
        train_on_validation=train_on_validation,
        search_scores=_val_metrics(winner.user_attrs) if train_on_validation else None,
    )
    phase_cfg = _phase_study_config(config, name, budget, objective.metric)
    phase = run_study(phase_cfg, phase_space, final_obj)
    done = [
        t
        for t in phase.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if _key(t.params) == _key(params)
    ]
    if not done:
        from tunesmith.errors import TunesmithError

        raise TunesmithError(f"the final training of trial {trial} did not complete; see {name}")
    # After a retrain on train + validation, the final trial's val_* are the search run's scores
    # (FinetuneObjective reports those: the retrained model has seen the validation split).
    attrs = done[-1].user_attrs
    record = {
        "metric": objective.metric,
        "validation": _val_metrics(attrs),
        "test": {k[5:]: v for k, v in attrs.items() if k.startswith("test_")},
        "retrained_on_train_val": train_on_validation,
        "final_epochs": params.get("train.epochs") if train_on_validation else None,
        "reused_search_weights": attrs.get("stop_reason") == "loaded",
        "best_trial": trial,
        "best_epoch": _whole(attrs.get("best_epoch")),
        "params": dict(params),
        "model_path": str(export_dir),
    }
    study.set_user_attr("final", record)
    return record


def _val_metrics(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k[4:]: v for k, v in attrs.items() if k.startswith("val_")}


def _whole(value: Any) -> Any:
    """An epoch number stored as a float (trial user attributes) back as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_best_folder(
    run_dir: Path, study: Any, record: Mapping[str, Any], base: Mapping[str, Any]
) -> Path:
    """``runs/<name>/best/``: model (already exported), config, metrics, seeds and a model card."""
    import yaml

    from tunesmith.experiment.finetune import job_mapping
    from tunesmith.utils.atomic import atomic_write_json, atomic_write_text

    best = run_dir / "best"
    best.mkdir(parents=True, exist_ok=True)
    job = job_mapping(base, record["params"])
    atomic_write_text(best / "config.yaml", yaml.safe_dump(job, sort_keys=False))
    recheck = study.user_attrs.get("recheck") or []
    metrics = {
        "metric": record["metric"],
        "validation": record["validation"],
        "test": record["test"],
        "best_trial": record["best_trial"],
        "best_epoch": record.get("best_epoch"),
        "retrained_on_train_val": bool(record.get("retrained_on_train_val")),
        "seeds": next((r["seeds"] for r in recheck if r.get("winner")), [job.get("seed", 0)]),
        "recheck": recheck,
    }
    atomic_write_json(best / "metrics.json", metrics)
    atomic_write_text(best / "MODEL_CARD.md", model_card(study.study_name, job, metrics))
    return best


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def model_card(study_name: str, job: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """A short Markdown model card: what was trained, on what, how it scored."""
    model = job.get("model", {})
    data = job.get("data", {})
    train = job.get("train", {})
    lines = [
        f"# Model card: best of study `{study_name}`",
        "",
        f"- Base model: `{model.get('name')}` ({model.get('kind')})",
        f"- Data: `{data.get('builtin') or data.get('train')}`, "
        f"task {data.get('task', 'classification')}",
        f"- Selection metric: {metrics['metric']} "
        f"(validation, best epoch {metrics.get('best_epoch')})",
        f"- Chosen from trial {metrics['best_trial']}; seeds checked: {metrics['seeds']}",
        "",
        "## Scores",
        "",
        "| split | " + " | ".join(sorted(metrics["test"] or metrics["validation"])) + " |",
        "|---|" + "---|" * len(metrics["test"] or metrics["validation"]),
    ]
    for split in ("validation", "test"):
        values = metrics[split] or {}
        keys = sorted(metrics["test"] or metrics["validation"])
        lines.append(f"| {split} | " + " | ".join(_fmt(values.get(k)) for k in keys) + " |")
    if metrics.get("retrained_on_train_val"):
        lines += [
            "",
            f"The final model was retrained on train + validation for {train.get('epochs')} "
            "epochs (the winner's best epoch); its validation scores are the search run's.",
        ]
    lines += [
        "",
        "The test split was read once, after the search and the seed re-check chose the winner.",
        "",
        "## Training settings",
        "",
        "```json",
        json.dumps(train, indent=2, default=str),
        "```",
        "",
        "Load it with `tunesmith.load_model(path).predict(inputs)`.",
    ]
    return "\n".join(lines) + "\n"
