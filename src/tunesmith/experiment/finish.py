"""After a fine-tuning search: seed re-check, one honest test evaluation, export and report.

Each phase is a small study of its own in the same storage (``<name>.recheck``, ``<name>.final``)
with its trials enqueued up front, so the phases run in worker processes like any trial and a
crash resumes them: trials already complete count toward their budget and are not rerun.

* **Seed re-check:** the top ``k`` configurations of the search run again with ``m`` more seeds;
  the winner is the best *mean* validation score (``study.user_attrs["recheck"]``).
* **Final:** the winner trains once more with the search seed and is evaluated on the test split,
  the first and only time the test split is read; the model is exported to
  ``runs/<name>/best/model`` (``study.user_attrs["final"]``).
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
) -> None:
    """Enqueue the wanted param sets that the phase study does not hold yet (resume-safe)."""
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
        _enqueue_missing(name, config.storage_url(), config.all_directions, wanted)
        phase_space = _phase_space(space, {"seed": {"type": "categorical", "choices": new_seeds}})
        phase_obj = objective.phase(str(Path(objective.trials_dir).parent / "recheck"))
        phase_cfg = _phase_study_config(config, name, len(wanted), objective.metric)
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
) -> dict[str, Any]:
    """Train the winner once more, evaluate it on the test split once, export it."""
    import optuna

    name = f"{config.name}.final"
    export_dir = run_dir / "best" / "model"
    _enqueue_missing(name, config.storage_url(), config.all_directions, [dict(params)])
    final_obj = objective.phase(str(run_dir / "final"), mode="final", export_dir=str(export_dir))
    phase = run_study(_phase_study_config(config, name, 1, objective.metric), space, final_obj)
    done = [
        t
        for t in phase.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if _key(t.params) == _key(params)
    ]
    if not done:
        from tunesmith.errors import TunesmithError

        raise TunesmithError(f"the final training of trial {trial} did not complete; see {name}")
    attrs = done[-1].user_attrs
    record = {
        "metric": objective.metric,
        "validation": {k[4:]: v for k, v in attrs.items() if k.startswith("val_")},
        "test": {k[5:]: v for k, v in attrs.items() if k.startswith("test_")},
        "retrained_on_train_val": False,
        "best_trial": trial,
        "best_epoch": attrs.get("best_epoch"),
        "params": dict(params),
        "model_path": str(export_dir),
    }
    study.set_user_attr("final", record)
    return record


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
