"""The cost-aware schedule driving a real coordinator (in-process, in-memory study): cheap arms
first, deeper ones only after the shallower ones ran, recipes run once, each trial labelled with
its arm; and the pieces it is built from (recipe projection onto variants, epochs collapsed)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tunesmith.config.experiment import StudyConfig
from tunesmith.experiment import run_study
from tunesmith.experiment.finetune.pipeline import _project, collapse_epochs
from tunesmith.experiment.finetune.schedule import ARM_ATTR, CostAwareSchedule, build_arms
from tunesmith.search.cost import MIN_TRIALS
from tunesmith.search.space import SearchSpace
from tunesmith.storage.study import make_storage, open_study

S = "train.freezing.strategy"
SPACE = SearchSpace.from_config(
    {
        S: {"type": "categorical", "choices": ["head", "last_k", "full"]},
        "train.optimizer.lr@head": {
            "type": "float",
            "low": 1e-3,
            "high": 1e-1,
            "log": True,
            "when": {S: "head"},
        },
        "train.optimizer.lr@last_k": {
            "type": "float",
            "low": 1e-4,
            "high": 1e-2,
            "log": True,
            "when": {S: "last_k"},
        },
        "train.optimizer.lr@full": {
            "type": "float",
            "low": 1e-5,
            "high": 1e-4,
            "log": True,
            "when": {S: "full"},
        },
        "train.epochs@head": {"type": "fixed", "value": 40, "when": {S: "head"}},
        "train.epochs@deep": {"type": "fixed", "value": 4, "when": {S: ["last_k", "full"]}},
    }
)
RECIPE = {"train.freezing.strategy": "full", "train.optimizer.lr": 3e-5, "train.epochs": 3}
SCORE = {"head": 0.78, "last_k": 0.80, "full": 0.83}


COST = {"head": 0.002, "last_k": 0.02, "full": 0.1}


def _objective(params: dict[str, Any]) -> float:
    time.sleep(COST[params[S]])  # deeper arms cost more, as they do in fine-tuning
    return SCORE[params[S]]


def test_schedule_runs_cheap_arms_first_and_each_recipe_once() -> None:
    cfg = StudyConfig(
        name="sched",
        storage="memory",
        runner="inprocess",
        n_trials=14,
        sampler={"name": "random", "seed": 0},
    )
    storage = make_storage("memory")
    study = open_study("sched", "memory", ["maximize"], storage=storage)
    recipe = _project(RECIPE, SPACE)
    assert recipe == {S: "full", "train.optimizer.lr@full": 3e-5}
    arms, recipes = build_arms(SPACE, [recipe], base_epochs=3)
    assert [(a.name, a.depth, a.epochs, a.limit) for a in arms] == [
        ("head", 0, 40, None),
        ("last_k", 1, 4, None),
        ("recipe0", 2, 4, 1),
        ("full", 2, 4, None),
    ]
    schedule = CostAwareSchedule(study, arms, recipes, timeout=None)
    done = run_study(cfg, SPACE, _objective, on_event=schedule, storage=storage)
    trials = sorted(done.get_trials(deepcopy=False), key=lambda t: t.number)
    finished = [t for t in trials if t.value is not None]
    assert len(finished) == 14
    arms_run = [t.user_attrs[ARM_ATTR] for t in finished]
    for t in finished:  # the arm label and the strategy the trial ran agree
        want = "full" if t.user_attrs[ARM_ATTR] == "recipe0" else t.user_attrs[ARM_ATTR]
        assert t.params[S] == want
    # head until MIN_TRIALS ran, then last_k (it promises a gain and is cheap), then the
    # recipe (affordable, untried), then full: the converged cheap arms promise nothing more.
    rest = 14 - 2 * MIN_TRIALS - 1
    assert (
        arms_run == ["head"] * MIN_TRIALS + ["last_k"] * MIN_TRIALS + ["recipe0"] + ["full"] * rest
    )
    assert arms_run.count("recipe0") == 1
    recipe_trial = finished[arms_run.index("recipe0")]
    assert recipe_trial.params == recipe
    assert schedule.model.summary()["full"]["best"] in (None, pytest.approx(0.83))


def test_recipes_that_differ_only_in_epochs_are_one_run_of_the_longest() -> None:
    configs = [
        {"lr": 3e-5, "bs": 32, "train.epochs": 3},
        {"lr": 3e-5, "bs": 32, "train.epochs": 2},
        {"lr": 3e-5, "bs": 32, "train.epochs": 4},
        {"lr": 2e-5, "bs": 32, "train.epochs": 3},
        {"lr": 3e-5, "bs": 16},
    ]
    assert collapse_epochs(configs) == [
        {"lr": 3e-5, "bs": 32, "train.epochs": 4},
        {"lr": 2e-5, "bs": 32, "train.epochs": 3},
        {"lr": 3e-5, "bs": 16},
    ]


def test_recipe_outside_its_variant_range_is_dropped() -> None:
    assert _project({S: "full", "train.optimizer.lr": 5e-3}, SPACE) is None
    assert _project({S: "last_k", "train.optimizer.lr": 5e-3}, SPACE) == {
        S: "last_k",
        "train.optimizer.lr@last_k": 5e-3,
    }


def test_a_resumed_schedule_learns_from_the_trials_the_study_holds() -> None:
    cfg = StudyConfig(
        name="resume",
        storage="memory",
        runner="inprocess",
        n_trials=MIN_TRIALS,
        sampler={"name": "random", "seed": 0},
    )
    storage = make_storage("memory")
    study = open_study("resume", "memory", ["maximize"], storage=storage)
    arms, recipes = build_arms(SPACE, [], base_epochs=3)
    run_study(
        cfg,
        SPACE,
        _objective,
        on_event=CostAwareSchedule(study, arms, recipes, timeout=None),
        storage=storage,
    )
    again = CostAwareSchedule(study, arms, recipes, timeout=None)
    more = cfg.model_copy(update={"n_trials": MIN_TRIALS + 1})
    done = run_study(more, SPACE, _objective, on_event=again, storage=storage)
    assert again.model.summary()["head"]["trials"] == MIN_TRIALS
    last = max((t for t in done.get_trials() if t.value is not None), key=lambda t: t.number)
    assert last.user_attrs[ARM_ATTR] == "last_k"  # head ran MIN_TRIALS before the resume


def test_a_variant_writes_its_value_at_the_path_before_the_tag() -> None:
    from tunesmith.experiment.finetune.objective import job_mapping

    job = job_mapping({"train": {"epochs": 3}}, {"train.optimizer.lr@head": 0.1, "seed": 1})
    assert job == {"train": {"epochs": 3, "optimizer": {"lr": 0.1}}, "seed": 1}


def test_default_space_end_to_end_head_trials_converge_and_final_uses_their_best_epoch(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``space: default`` on a tiny custom model (CNN family space): the schedule runs head
    trials first, each trains up to 40 epochs with early stopping and its own lr range, and the
    final run retrains the winner for its best epoch count."""
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from finetune_fixtures import experiment, load, write_npz

    from tunesmith.experiment import run_experiment

    monkeypatch.syspath_prepend(str(here))
    monkeypatch.chdir(tmp_path)
    paths = write_npz(Path(tmp_path))
    cfg = load(
        experiment(
            "default-e2e",
            paths,
            space="default",
            study={"n_trials": MIN_TRIALS, "storage": f"sqlite:///{tmp_path}/s.db"},
            recheck={"top_k": 1, "seeds": 0},
            final={"train_on": "train+validation"},
        )
    )
    study = run_experiment(cfg)
    done = [t for t in study.trials if t.value is not None]
    assert len(done) == MIN_TRIALS
    for t in done:
        assert t.user_attrs[ARM_ATTR] == "head" == t.params[S]
        assert 1e-3 <= t.params["train.optimizer.lr@head"] <= 1e-1
        epochs = len(t.intermediate_values)
        assert t.user_attrs["best_epoch"] <= epochs <= 40
        if epochs < 40:  # stopped early: 5 evaluations without a better one
            assert epochs - t.user_attrs["best_epoch"] == 5
    final = study.user_attrs["final"]
    winner = next(t for t in study.trials if t.number == final["best_trial"])
    assert final["final_epochs"] == winner.user_attrs["best_epoch"]


def _waiting(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def test_a_timeout_stop_leaves_no_queued_trial_behind() -> None:
    from optuna.trial import TrialState

    cfg = StudyConfig(
        name="stop", storage="memory", runner="inprocess", n_trials=None, timeout=0.3, seed=0
    )
    storage = make_storage("memory")
    study = open_study("stop", "memory", ["maximize"], storage=storage)
    arms, recipes = build_arms(SPACE, [], base_epochs=3)
    schedule = CostAwareSchedule(study, arms, recipes, timeout=0.3)
    done = run_study(cfg, SPACE, _objective, on_event=schedule, storage=storage)
    assert _waiting(done) == []
    # the schedule queues the next trial as each one ends: the one queued last never started
    failed = [t for t in done.trials if t.state == TrialState.FAIL]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["not started: budget spent"]
    assert failed[0].datetime_start is not None  # a readable record, not a half-written one


def test_a_resumed_search_drops_stale_queued_picks_but_keeps_recipes() -> None:
    from optuna.trial import TrialState

    from tunesmith.storage.study import enqueue

    cfg = StudyConfig(
        name="stale", storage="memory", runner="inprocess", n_trials=2, sampler={"seed": 0}
    )
    storage = make_storage("memory")
    study = open_study("stale", "memory", ["maximize"], storage=storage)
    recipe = _project(RECIPE, SPACE)
    assert recipe is not None
    arms, recipes = build_arms(SPACE, [recipe], base_epochs=3)
    # what a killed run left queued: a pick of the full arm and the recipe
    enqueue(study, {S: "full"}, {ARM_ATTR: "full"})
    enqueue(study, recipe, {ARM_ATTR: "recipe0"})
    schedule = CostAwareSchedule(study, arms, recipes, timeout=None)
    done = run_study(cfg, SPACE, _objective, on_event=schedule, storage=storage)
    by_number = sorted(done.trials, key=lambda t: t.number)
    assert by_number[0].state == TrialState.FAIL
    assert by_number[0].user_attrs["fail_reason"] == "not started: left queued by an earlier run"
    ran = [t for t in by_number if t.state == TrialState.COMPLETE]
    assert ran[0].user_attrs[ARM_ATTR] == "recipe0"  # the queued recipe still runs, first
    assert _waiting(done) == []  # the n_trials stop fails the pick queued after the last trial


@pytest.mark.parametrize("n_trials", [2, 2 * MIN_TRIALS + 2])
def test_batched_head_pick_queues_several_head_trials_within_the_trial_budget(
    n_trials: int,
) -> None:
    from optuna.trial import TrialState

    cfg = StudyConfig(
        name="batch",
        storage="memory",
        runner="inprocess",
        n_trials=n_trials,
        sampler={"name": "random", "seed": 0},
    )
    storage = make_storage("memory")
    study = open_study("batch", "memory", ["maximize"], storage=storage)
    arms, recipes = build_arms(SPACE, [], base_epochs=3)
    batch = MIN_TRIALS + 2
    schedule = CostAwareSchedule(study, arms, recipes, timeout=None, batch=batch, n_trials=n_trials)
    done = run_study(cfg, SPACE, _objective, on_event=schedule, storage=storage)
    trials = sorted(done.get_trials(deepcopy=False), key=lambda t: t.number)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert not [t for t in waiting if t.system_attrs["fixed_params"][S] == "head"]  # none left
    arms_run = [t.user_attrs[ARM_ATTR] for t in trials if t.value is not None]
    assert len(arms_run) == n_trials
    # the first pick queued min(batch, n_trials) head trials at once: more than MIN_TRIALS
    assert arms_run[: min(batch, n_trials)] == ["head"] * min(batch, n_trials)
    if n_trials > batch:  # then the schedule moved on, one trial at a time for deeper arms
        assert arms_run[batch] == "last_k"
