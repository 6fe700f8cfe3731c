"""A budget for the whole run (issue 10, item 1): the plan, the sizing, and trials that fit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tunesmith.experiment import tune
from tunesmith.experiment.budget import (
    SAFETY,
    SHARES,
    Plan,
    RunBudget,
    expected_cost,
    fits,
    size_recheck,
    trial_seconds,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

__all__ = ["tiny_workdir"]


def test_plan_splits_the_timeout_and_says_so():
    plan = Plan(600.0)
    assert sum(SHARES.values()) == pytest.approx(1.0)
    assert plan.search_seconds() == pytest.approx(600 * SHARES["search"])
    assert plan.reserve_after("search") == pytest.approx(600 * (1 - SHARES["search"]))
    plan.expected["recheck"] = 12.5
    text = "\n".join(plan.lines())
    assert "600 s for the whole run" in text and "search: 420 s (70% share)" in text
    short = Plan(20.0)  # the report's minimum comes out of the search's share
    assert short.search_seconds() == pytest.approx(20.0 - 20.0 * 0.28 - 6.0)
    assert "about 12.5 s per run" in text
    assert plan.as_dict()["seconds"]["final"] == pytest.approx(48.0)


def test_a_trial_fits_only_when_its_measured_cost_does():
    assert expected_cost([], None) is None and expected_cost([], 3.0) == 3.0
    assert expected_cost([1.0, 9.0, 2.0], 100.0) == 2.0  # measured beats the prior
    assert fits(10.0, None) and not fits(0.0, None)  # the first trial is how cost is learned
    assert fits(10.0, 10.0 / SAFETY) and not fits(10.0, 10.0)


def test_recheck_is_sized_to_the_time_left():
    costs = [10.0, 10.0, 10.0]
    full = size_recheck(costs, 3, 2, left=1000)
    assert (full.top_k, full.seeds, full.note) == (3, 2, None)
    fewer = size_recheck(costs, 3, 2, left=50)  # 2 configurations x 2 seeds = 44 s
    assert (fewer.top_k, fewer.seeds) == (2, 2) and "2 configuration(s) x 2 seed(s)" in fewer.note
    one_seed = size_recheck(costs, 3, 2, left=25)  # 2 x 1 = 22 s
    assert (one_seed.top_k, one_seed.seeds) == (2, 1)
    skipped = size_recheck(costs, 3, 2, left=15)
    assert skipped.seeds == 0 and "re-check skipped" in skipped.note
    unknown = size_recheck([10.0, None], 2, 1, left=21)  # unknown costs count as the largest
    assert unknown.seeds == 0
    assert size_recheck([10.0, None], 2, 1, left=23).seeds == 1
    alone = size_recheck([10.0], 3, 2, left=1000)  # one configuration: skipped, with a line
    assert alone.seeds == 0 and "nothing to compare" in (alone.note or "")


def test_run_budget_keeps_the_final_and_the_report():
    clock = [100.0]
    budget = RunBudget(Plan(100.0), started=100.0, now=lambda: clock[0])
    clock[0] = 160.0  # 60 s spent: 40 left
    assert budget.left() == pytest.approx(40.0)
    keep = budget.plan.share("final") + max(6.0, budget.plan.share("report"))
    assert budget.recheck_seconds(None) == pytest.approx(40.0 - keep)
    assert budget.recheck_seconds(20.0) == pytest.approx(40.0 - 20.0 * SAFETY - 6.0)
    assert budget.final_seconds() == pytest.approx(34.0)


def test_no_trial_is_started_that_cannot_finish_in_the_time_left():
    spans: list[tuple[float, float]] = []
    t0 = time.monotonic()

    def objective(params):
        start = time.monotonic()
        time.sleep(0.5)
        spans.append((start - t0, time.monotonic() - t0))
        return params["x"]

    res = tune(
        objective,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler="random",
        n_trials=None,
        timeout=1.3,
        runner="inprocess",
        seed=0,
    )
    # Two trials of 0.5 s fit; a third, started at about 1.0 s, would end past 1.3 s.
    assert len(spans) == 2, spans
    assert all(end <= 1.3 + 0.2 for _, end in spans), spans
    assert all(t.state == TrialState.COMPLETE for t in res.study.trials)


def test_tiny_finetune_run_with_a_short_timeout_ends_within_budget(tiny_workdir):
    from tunesmith.experiment.kinds import prepare, run

    timeout = 20.0
    paths = write_npz(tiny_workdir, n_train=400)
    mapping = experiment(
        "budgeted",
        paths,
        study={"n_trials": 500, "timeout": timeout},
        train={"epochs": 2},
        recheck={"top_k": 3, "seeds": 4},
    )
    prepared = prepare(load(mapping))  # set-up: validation, data
    start = time.monotonic()
    study = run(prepared)
    wall = time.monotonic() - start
    assert wall <= timeout * 1.05, wall
    plan = study.user_attrs["budget"]
    assert plan["total_s"] == timeout and plan["shares"] == dict(SHARES)
    assert any(n.startswith("whole run:") for n in plan["notes"])
    searched = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(searched) >= 2  # the search ran until its share was spent, not to 500 trials
    last_end = max(t.datetime_complete for t in searched)
    first_start = min(t.datetime_start for t in study.trials)
    search_s = Plan(timeout).search_seconds()
    assert (last_end - first_start).total_seconds() <= search_s + 1.0
    assert "final" in study.user_attrs  # the model was evaluated and exported


def test_a_one_off_set_up_is_not_what_the_next_trial_is_expected_to_cost():
    # The first trial builds a cache (0.8 s, reported as setup_seconds); later ones take 0.1 s.
    calls: list[float] = []

    def objective(params):
        first = not calls
        time.sleep(0.9 if first else 0.1)
        calls.append(params["x"])
        return {"value": params["x"], **({"setup_seconds": 0.8} if first else {})}

    res = tune(
        objective,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler="random",
        metric="value",
        n_trials=None,
        timeout=1.6,
        runner="inprocess",
        seed=0,
    )
    # Taken at face value the first trial (0.9 s) would leave no room for a second in 1.6 s.
    assert len(calls) >= 3, calls
    first = min(res.study.trials, key=lambda t: t.number)
    assert first.user_attrs["setup_seconds"] == pytest.approx(0.8)
    assert trial_seconds(first) == pytest.approx(0.1, abs=0.15)


def _winner(seconds: float, number: int = 4):
    import datetime

    from optuna.trial import FrozenTrial

    start = datetime.datetime(2026, 1, 1)
    return FrozenTrial(
        number=number,
        state=TrialState.COMPLETE,
        value=0.9,
        datetime_start=start,
        datetime_complete=start + datetime.timedelta(seconds=seconds),
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def _final_budget_at(left_after: float):
    """A 100 s budget whose clock has run ``100 - left_after`` s (read when the final starts)."""
    clock = [0.0]
    budget = RunBudget(Plan(100.0), started=0.0, now=lambda: clock[0])
    clock[0] = 100.0 - left_after - budget.plan.reserve_after("final")
    return budget


def test_the_final_run_is_sized_from_the_clock_when_it_starts(tmp_path):
    from tunesmith.engine.weights import WEIGHTS_FILE
    from tunesmith.experiment.finetune.phases import _final_budget

    saved, bare = tmp_path / "saved", tmp_path / "bare"
    saved.mkdir(), bare.mkdir()
    (saved / WEIGHTS_FILE).write_bytes(b"weights")
    winner = _winner(40.0)  # its search trial: 4 epochs in 40 s

    budget = _final_budget_at(0.0)  # the budget is spent: saved weights are still evaluated
    size = _final_budget(budget, winner, False, saved, 4, 4)
    assert (size.timeout, size.epochs, size.saved_instead) == (None, 4, False)
    assert "budget is spent" in budget.plan.notes[-1]

    budget = _final_budget_at(60.0)  # a retrain of 3 epochs (about 30 s) fits
    size = _final_budget(budget, winner, True, saved, 3, 4)
    assert size.timeout == pytest.approx(60.0) and size.epochs == 3 and not budget.plan.notes

    budget = _final_budget_at(20.0)  # it does not: evaluate the search's weights instead
    size = _final_budget(budget, winner, True, saved, 3, 4)
    assert size.saved_instead and size.timeout is None
    assert "evaluating the search's weights of trial 4" in budget.plan.notes[-1]

    budget = _final_budget_at(25.0)  # no weights to fall back on: fewer epochs that fit
    size = _final_budget(budget, winner, False, bare, 4, 4)
    assert size.epochs == 2 and size.timeout == pytest.approx(25.0)  # 2 x 10 s x 1.1 <= 25
    assert "training it for 2 epoch(s) instead of 4" in budget.plan.notes[-1]

    budget = _final_budget_at(5.0)  # not even one epoch fits: one, saying it runs past
    size = _final_budget(budget, winner, True, bare, 3, 4)
    assert size.epochs == 1 and size.timeout is None
    assert "past the budget" in budget.plan.notes[-1]

    size = _final_budget(None, winner, True, bare, 3, 4)  # no budget: as asked, no limit
    assert (size.timeout, size.epochs, size.saved_instead) == (None, 3, False)


def test_a_final_training_that_runs_late_is_stopped_by_its_deadline(tiny_workdir):
    from tunesmith.experiment import run_study
    from tunesmith.experiment.deadline import BUDGET, STOPPED_BY
    from tunesmith.experiment.finetune.pipeline import build_finetune_objective
    from tunesmith.search.space import SearchSpace
    from tunesmith.storage.study import make_storage

    paths = write_npz(tiny_workdir)
    config = load(experiment("late", paths, train={"epochs": 5000}))
    space = SearchSpace.from_config({"train.optimizer.lr": {"type": "fixed", "value": 0.01}})
    objective = build_finetune_objective(config, space)
    assert objective.report_steps({}) == 5000  # the deadline projects from the epochs
    final = objective.phase(
        str(tiny_workdir / "final"),
        mode="final",
        export_dir=str(tiny_workdir / "model"),
        final_reports=True,
    )
    update = {"timeout": 1.0, "metric": objective.metric, "n_trials": 1}
    study = run_study(
        config.study.model_copy(update=update), space, final, storage=make_storage("memory")
    )
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.user_attrs[STOPPED_BY] == BUDGET
    assert trial.user_attrs["best_epoch"] < 5000  # it did not train its 5000 epochs
    assert "test_accuracy" in trial.user_attrs  # the stopped model is still tested, exported
    assert (tiny_workdir / "model").is_dir()


def test_a_trial_cut_by_the_budget_is_expected_to_cost_its_full_run():
    import copy

    from tunesmith.experiment.finetune.phases import full_run_seconds

    class Epochs:
        def report_steps(self, params):
            return 8

    whole = _winner(20.0)
    cut = copy.deepcopy(whole)
    cut.user_attrs = {"stopped_by": "budget"}
    cut.intermediate_values = {1: 0.5, 2: 0.6}  # 2 of its 8 epochs in 20 s
    assert full_run_seconds(whole, Epochs()) == pytest.approx(20.0)
    assert full_run_seconds(cut, Epochs()) == pytest.approx(80.0)
    assert full_run_seconds(cut, None) == pytest.approx(20.0)  # no step count: as measured
