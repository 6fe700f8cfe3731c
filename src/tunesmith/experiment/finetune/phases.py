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
  (``study.user_attrs["final"]``). A winner answered from a longer run's reports
  (:mod:`tunesmith.experiment.finetune.epochs`) saved no weights: it trains for its best epoch
  count over the search's schedule horizon, which gives the weights that were evaluated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.fidelity import FIDELITY_OF
from tunesmith.experiment.finetune.epochs import answered_val_metrics
from tunesmith.experiment.finetune.objective import FinetuneObjective
from tunesmith.experiment.fixed import FixedRun, held_run
from tunesmith.experiment.runtime import run_study

log = logging.getLogger(__name__)

#: What a run that measures its cost records (tunesmith.engine.inference_cost).
COST_KEYS = ("latency_ms", "latency_batch_size", "params", "params_trainable")


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def _phase_study_config(config: Any, name: str, metric: str, timeout: float | None = None) -> Any:
    """The search's study settings for a phase study, without its sampler or pruner (a study of
    fixed runs has no trial budget, target or patience); ``timeout``: the phase's time limit."""
    return config.model_copy(
        update={
            "name": name,
            "storage": config.storage_url(),
            "timeout": timeout,
            "metric": metric,
            # one objective (the validation metric) even after a multi-objective search
            "directions": None,
            "direction": config.all_directions[0],
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
    budget: Any = None,
    final_retrains: bool = False,
    only: int | None = None,
) -> dict[str, Any] | None:
    """Rerun the top ``top_k`` configurations with ``seeds`` more seeds; return the winner row.

    ``only``: re-check that trial alone (the front member ``final.pick`` chose in a study with
    several objectives; its score is its first objective, the validation metric).

    With a ``budget`` (:class:`~tunesmith.experiment.budget.RunBudget`), the re-check is sized
    to the time left after keeping the final run's (``final_retrains``: it trains the winner
    again) and the report's: fewer configurations or seeds, or none, with a line saying so.
    """
    from tunesmith.experiment.budget import size_recheck, trial_seconds
    from tunesmith.search.recheck import Candidate, RecheckRow, extra_seeds, rank
    from tunesmith.search.recheck import top_k as pick

    maximize = config.all_directions[0] == "maximize"
    done = {t.number: t for t in _complete(study) if t.values is not None}
    if only is not None:
        done = {only: done[only]} if only in done else {}
    cands = pick(
        [Candidate(t.number, t.params, float(t.values[0]), base_seed) for t in done.values()],
        top_k,
        maximize,
    )
    if not cands:
        return None
    timeout, cost = None, None
    if budget is not None and seeds > 0:
        costs = [trial_seconds(done[c.trial]) for c in cands]
        timeout = budget.recheck_seconds(costs[0] if final_retrains else None)
        size = size_recheck(costs, len(cands), seeds, timeout)
        known = [c for c in costs[: size.top_k] if c is not None]
        cost = max(known) if known else None
        budget.plan.expected["recheck"] = cost
        if size.note:
            log.info("budget: %s", size.note)
            budget.note(size.note)
        cands, seeds = cands[: max(size.top_k, 1)], size.seeds
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
        phase_cfg = _phase_study_config(config, f"{config.name}.recheck", objective.metric, timeout)
        phase = run_study(
            phase_cfg, space, phase_obj, on_event=on_event, runs=runs, trial_cost=cost
        )
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
    budget: Any = None,
) -> dict[str, Any]:
    """Load (or retrain) the winner, evaluate it on the test split once, export it.

    With ``train_on_validation`` the winner trains again on train + validation for as many
    epochs as its best search epoch, and the validation scores reported are the search's (the
    retrained model has seen the validation split).

    With a ``budget``, a retrain that cannot finish in the time left is not started: the
    winner's search weights are evaluated instead, with a line saying so. The evaluation of saved
    weights always runs (it is what the run delivers); past the budget, a line says so.
    """
    name = f"{config.name}.final"
    export_dir = run_dir / "best" / "model"
    winner = next(t for t in study.get_trials(deepcopy=False) if t.number == trial)
    timeout, cost = _final_budget(budget, winner, train_on_validation)
    if budget is not None and train_on_validation and timeout is None:
        train_on_validation = False
    overrides: dict[str, Any] = _run_overrides(winner)  # a recipe's keys outside the space
    answered = FIDELITY_OF in winner.user_attrs  # answered from a longer run: saved nothing
    if train_on_validation or answered:
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
        reuse_from=None if train_on_validation or answered else str(source),
        train_on_validation=train_on_validation,
        search_scores=_search_scores(objective, winner) if train_on_validation else None,
    )
    phase_cfg = _phase_study_config(config, name, objective.metric, timeout)
    phase = run_study(phase_cfg, space, final_obj, on_event=on_event, runs=[run], trial_cost=cost)
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
        "final_epochs": overrides.get("train.epochs") if train_on_validation or answered else None,
        "reused_search_weights": attrs.get("stop_reason") == "loaded",
        "best_trial": trial,
        "best_epoch": _whole(attrs.get("best_epoch")),
        "params": run.settings,
        "model_path": str(export_dir),
    }
    measured = {k: attrs[k] for k in COST_KEYS if k in attrs}
    if measured:  # a multi-objective study measures the exported model's cost too
        record["cost"] = measured
    study.set_user_attr("final", record)
    return record


def _final_budget(budget: Any, winner: Any, retrain: bool) -> tuple[float | None, float | None]:
    """The final run's time limit and expected cost under ``budget`` (None, None: no limit).

    A retrain is expected to cost what the winner's search trial took; when that does not fit,
    ``(None, None)`` is returned and a line says the saved weights are evaluated instead.
    """
    from tunesmith.experiment.budget import fits, trial_seconds

    if budget is None:
        return None, None
    left = budget.final_seconds()
    cost = trial_seconds(winner) if retrain else None
    budget.plan.expected["final"] = cost
    if retrain and not fits(left, cost):
        line = (
            f"final: retraining on train+validation would take about {cost or 0:.0f} s and "
            f"{max(left, 0):.0f} s are left; evaluating the search's weights of trial "
            f"{winner.number} instead"
        )
        log.info("budget: %s", line)
        budget.note(line)
        return None, None
    if left <= 0:
        line = f"final: the budget is spent ({-left:.0f} s over); evaluating the winner anyway"
        log.warning("budget: %s", line)
        budget.note(line)
        return None, None
    if not retrain:  # evaluating saved weights: no trial cost to wait for
        return None, None
    return left, cost


def _run_overrides(trial: Any) -> dict[str, Any]:
    from tunesmith.storage.study import RUN_OVERRIDES

    return dict(trial.user_attrs.get(RUN_OVERRIDES) or {})


def _search_scores(objective: FinetuneObjective, winner: Any) -> dict[str, Any]:
    """The winner's validation metrics from the search (an answered trial's: its source run's
    at its best epoch)."""
    if FIDELITY_OF in winner.user_attrs:
        return answered_val_metrics(objective.trials_dir, winner, objective.metric)
    return _val_metrics(winner.user_attrs)


def _val_metrics(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k[4:]: v for k, v in attrs.items() if k.startswith("val_")}


def _whole(value: Any) -> Any:
    """An epoch number stored as a float (trial user attributes) back as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
