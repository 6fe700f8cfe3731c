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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.experiment.deadline import STOPPED_BY
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
    again) and the report's: fewer configurations or seeds, or none, with a line saying so. A
    rerun the phase's deadline stopped (``stopped_by: budget``) is left out of the means: a
    partly trained seed is not that seed's score.
    """
    from tunesmith.experiment.budget import size_recheck
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
        costs = [full_run_seconds(done[c.trial], objective) for c in cands]
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
        cut = [t for t in _complete(phase) if t.user_attrs.get(STOPPED_BY)]
        if cut and budget is not None:  # a partial rerun is no seed's score: left out
            _say(budget, f"re-check: {len(cut)} run(s) stopped by the budget, left out")
        for t in _complete(phase):
            if t.user_attrs.get(STOPPED_BY):
                continue
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

    With a ``budget``, the run is sized to the time left when it starts (:func:`_final_budget`):
    a training that cannot finish is not started as asked (the saved weights are evaluated
    instead, or it trains fewer epochs), with a line saying so.
    """
    name = f"{config.name}.final"
    export_dir = run_dir / "best" / "model"
    winner = next(t for t in study.get_trials(deepcopy=False) if t.number == trial)
    source = Path(objective.trials_dir) / f"{trial:05d}"
    overrides: dict[str, Any] = _run_overrides(winner)  # a recipe's keys outside the space
    ran = {**params, **overrides}
    searched = int(ran.get("train.epochs", objective.base.get("train", {}).get("epochs", 1)))
    answered = FIDELITY_OF in winner.user_attrs  # answered from a longer run: saved nothing
    epochs = searched
    if train_on_validation or answered:
        epochs = int(winner.user_attrs.get("best_epoch") or 0) or searched
    size = _final_budget(
        budget,
        winner,
        train_on_validation or answered,
        source,
        epochs,
        searched,
        objective=objective,
    )
    timeout = size.timeout
    train_on_validation = train_on_validation and not size.saved_instead
    if train_on_validation or answered or size.epochs != epochs:
        overrides["train.epochs"] = size.epochs
    run = FixedRun(dict(params), overrides)
    # Without retraining, the winner's search run saved its trained weights: evaluate those (the
    # model whose validation score won) instead of training it again; a missing or mismatched
    # file retrains.
    final_obj = objective.phase(
        str(run_dir / "final"),
        mode="final",
        export_dir=str(export_dir),
        reuse_from=None if train_on_validation or answered else str(source),
        train_on_validation=train_on_validation,
        search_scores=_search_scores(objective, winner) if train_on_validation else None,
        final_reports=timeout is not None,  # the deadline may stop a training that overruns
    )
    phase_cfg = _phase_study_config(config, name, objective.metric, timeout)
    # no trial_cost: the run is sized above, and a start a moment later must not refuse it
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
        "final_epochs": overrides.get("train.epochs") if train_on_validation or answered else None,
        "reused_search_weights": attrs.get("stop_reason") == "loaded",
        "best_trial": trial,
        "best_epoch": _whole(attrs.get("best_epoch")),
        "params": run.settings,
        "model_path": str(export_dir),
    }
    if attrs.get(STOPPED_BY):  # the final phase's deadline ended its training
        record[STOPPED_BY] = attrs[STOPPED_BY]
    measured = {k: attrs[k] for k in COST_KEYS if k in attrs}
    if measured:  # a multi-objective study measures the exported model's cost too
        record["cost"] = measured
    study.set_user_attr("final", record)
    return record


@dataclass(frozen=True)
class FinalSize:
    """How the final run fits the budget: its time limit and expected cost (None: no limit),
    the epochs it trains, and whether the search's saved weights are evaluated instead of the
    asked-for retrain."""

    timeout: float | None
    cost: float | None
    epochs: int
    saved_instead: bool = False


def _final_budget(
    budget: Any,
    winner: Any,
    retrain: bool,
    source: Path,
    epochs: int,
    searched: int,
    objective: Any = None,
) -> FinalSize:
    """Size the final run to the time left when it starts (the clock is read now).

    Evaluating the winner's saved weights costs no training and always runs (past the budget, a
    line says so). A training (``retrain``, or no saved weights to evaluate) is expected to cost
    the winner's measured search time per epoch times ``epochs`` (``searched``: the epochs that
    search trial was given). When it does not fit: the saved weights are evaluated instead when
    they exist, else the winner trains for as many epochs as fit (at least one), each time with a
    line saying so; the final phase's deadline stops a training that still runs late.
    """
    from tunesmith.engine.weights import WEIGHTS_FILE
    from tunesmith.experiment.budget import SAFETY, fits

    if budget is None:
        return FinalSize(None, None, epochs)
    left = budget.final_seconds()
    saved = (source / WEIGHTS_FILE).is_file()
    trains = retrain or not saved
    measured = full_run_seconds(winner, objective) if trains else None
    per_epoch = None if measured is None else measured / max(1, searched)
    cost = None if per_epoch is None else per_epoch * epochs
    budget.plan.expected["final"] = cost
    if not trains:
        if left <= 0:
            _say(budget, f"final: the budget is spent ({-left:.0f} s over); evaluating anyway")
        return FinalSize(None, None, epochs)
    if fits(left, cost):
        return FinalSize(max(left, 0.0), cost, epochs)
    if saved:
        _say(
            budget,
            f"final: retraining on train+validation would take about {cost or 0:.0f} s and "
            f"{max(left, 0):.0f} s are left; evaluating the search's weights of trial "
            f"{winner.number} instead",
        )
        return FinalSize(None, None, epochs, saved_instead=True)
    fewer = 0 if per_epoch is None else int(max(left, 0.0) // (per_epoch * SAFETY))
    if per_epoch is None:  # the winner's time is unknown and the budget is spent
        _say(
            budget,
            f"final: the budget is spent ({-left:.0f} s over); training trial "
            f"{winner.number} anyway",
        )
        return FinalSize(None, None, epochs)
    if fewer >= 1:
        _say(
            budget,
            f"final: no saved weights of trial {winner.number}; training it for {fewer} "
            f"epoch(s) instead of {epochs} to fit the {left:.0f} s left "
            f"(about {per_epoch * fewer:.0f} s)",
        )
        return FinalSize(left, per_epoch * fewer, fewer)
    _say(
        budget,
        f"final: no saved weights of trial {winner.number}, and one epoch (about "
        f"{per_epoch:.0f} s) does not fit the {max(left, 0):.0f} s left; training it for one "
        "epoch anyway, past the budget",
    )
    return FinalSize(None, None, 1)


def full_run_seconds(trial: Any, objective: Any = None) -> float | None:
    """What a full run of ``trial``'s configuration is expected to take: its measured seconds
    (:func:`~tunesmith.experiment.budget.trial_seconds`), scaled up by the steps it was given
    over the steps it ran when the budget stopped it (``stopped_by``) and the objective says how
    many steps a run reports (``report_steps``)."""
    from tunesmith.experiment.budget import trial_seconds

    seconds = trial_seconds(trial)
    steps_of = getattr(objective, "report_steps", None)
    if seconds is None or not trial.user_attrs.get(STOPPED_BY) or not trial.intermediate_values:
        return seconds
    if steps_of is None:
        return seconds
    try:
        given = steps_of({**trial.params, **_run_overrides(trial)})
    except Exception:  # a hint only
        given = None
    ran = max(trial.intermediate_values)
    return seconds * max(1.0, given / ran) if given and ran > 0 else seconds


def _say(budget: Any, line: str) -> None:
    log.info("budget: %s", line)
    budget.note(line)


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
