"""After a fine-tuning search: the seed re-check and one honest test evaluation.

Each phase is a study of its own in the same storage (``<name>.recheck``, ``<name>.final``) that
runs a fixed list of configurations (:class:`~tunesmith.experiment.fixed.FixedRun`), each with its
own seed or epoch count, in worker processes like any trial; a crash resumes it: runs already
complete are not run again.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.finetune.objective import FinetuneObjective
from tunesmith.experiment.fixed import FixedRun, held_run
from tunesmith.experiment.runtime import run_study

log = logging.getLogger(__name__)


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def _phase_study_config(config: Any, name: str, metric: str) -> Any:
    """The search's study settings for a phase study, without its timeout, sampler or pruner
    (a study of fixed runs has no trial budget, target or patience)."""
    return config.model_copy(
        update={
            "name": name,
            "storage": config.storage_url(),
            "timeout": None,
            "metric": metric,
            "sampler": config.sampler.model_copy(update={"name": "random", "options": {}}),
            "pruner": config.pruner.model_copy(update={"name": "none", "options": {}}),
        }
    )


def _complete(phase: Any) -> list[Any]:
    from optuna.trial import TrialState

    return phase.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def run_recheck(
    study: Any,
    config: Any,
    space: Any,
    objective: FinetuneObjective,
    *,
    top_k: int,
    seeds: int,
    base_seed: int,
    on_event: OnEvent | None = None,
) -> dict[str, Any] | None:
    """Rerun the top ``top_k`` configurations with ``seeds`` more seeds; return the winner row."""
    from tunesmith.search.recheck import Candidate, RecheckRow, extra_seeds, rank
    from tunesmith.search.recheck import top_k as pick

    maximize = config.all_directions[0] == "maximize"
    cands = pick(
        [
            Candidate(t.number, t.params, float(t.value), base_seed)
            for t in _complete(study)
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
        kept = {t.number: _run_overrides(t) for t in _complete(study)}  # a recipe's other keys
        runs = [
            FixedRun(dict(c.params), {**kept.get(c.trial, {}), "seed": s})
            for c in cands
            for s in new_seeds
        ]
        phase_obj = objective.phase(str(Path(objective.trials_dir).parent / "recheck"))
        phase_cfg = _phase_study_config(config, f"{config.name}.recheck", objective.metric)
        phase = run_study(phase_cfg, space, phase_obj, on_event=on_event, runs=runs)
        for t in _complete(phase):
            run = held_run(t)
            seed = run.overrides.get("seed")
            row = rows.get(_key(run.params))
            if row is None or seed is None or t.value is None:
                continue
            if seed not in row.seeds:
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
    train_on_validation: bool = False,
    on_event: OnEvent | None = None,
) -> dict[str, Any]:
    """Load (or retrain) the winner, evaluate it on the test split once, export it.

    With ``train_on_validation`` the winner trains again on train + validation for as many
    epochs as its best search epoch, and the validation scores reported are the search's (the
    retrained model has seen the validation split).
    """
    name = f"{config.name}.final"
    export_dir = run_dir / "best" / "model"
    winner = next(t for t in study.get_trials(deepcopy=False) if t.number == trial)
    overrides: dict[str, Any] = _run_overrides(winner)  # a recipe's keys outside the space
    if train_on_validation:
        epochs = int(winner.user_attrs.get("best_epoch") or 0) or None
        if epochs is None:
            ran = {**params, **overrides}
            epochs = int(ran.get("train.epochs", objective.base["train"].get("epochs", 1)))
        overrides["train.epochs"] = epochs
    run = FixedRun(dict(params), overrides)
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
    phase_cfg = _phase_study_config(config, name, objective.metric)
    phase = run_study(phase_cfg, space, final_obj, on_event=on_event, runs=[run])
    done = [t for t in _complete(phase) if held_run(t).key == run.key]
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
        "final_epochs": overrides.get("train.epochs") if train_on_validation else None,
        "reused_search_weights": attrs.get("stop_reason") == "loaded",
        "best_trial": trial,
        "best_epoch": _whole(attrs.get("best_epoch")),
        "params": run.settings,
        "model_path": str(export_dir),
    }
    study.set_user_attr("final", record)
    return record


def _run_overrides(trial: Any) -> dict[str, Any]:
    from tunesmith.storage.study import RUN_OVERRIDES

    return dict(trial.user_attrs.get(RUN_OVERRIDES) or {})


def _val_metrics(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k[4:]: v for k, v in attrs.items() if k.startswith("val_")}


def _whole(value: Any) -> Any:
    """An epoch number stored as a float (trial user attributes) back as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
