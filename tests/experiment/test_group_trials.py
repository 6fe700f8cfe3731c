"""The coordinator's group tasks: which queued trials run together, and each member's record."""

from __future__ import annotations

import datetime

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.config.experiment import StudyConfig
from tunesmith.config.loader import validate
from tunesmith.experiment.budget import trial_seconds
from tunesmith.experiment.coordinator import Coordinator
from tunesmith.experiment.recording import Recorder, member_seconds
from tunesmith.experiment.runtime import run_study
from tunesmith.runners.base import Outcome, as_objective_call
from tunesmith.runners.inprocess import InProcessRunner
from tunesmith.search.space import SearchSpace

SPACE = SearchSpace.from_config({"x": {"type": "float", "low": 0.0, "high": 1.0}})


class Heads:
    """Trains its members together; a member with x == 0.25 fails, x == 0.35 reports low."""

    def __init__(self):
        self.groups = []

    def __call__(self, params, reporter):  # a member run alone
        return self.run_group([params], [reporter])[0]

    def run_group(self, params_list, reporters):
        self.groups.append([p["x"] for p in params_list])
        alive = [True] * len(params_list)
        for step in range(3):
            for i, (p, r) in enumerate(zip(params_list, reporters)):
                low = p["x"] == 0.35 and step >= 1
                if alive[i] and r.report(step, 0.0 if low else p["x"] + step):
                    alive[i] = False
        return [
            ValueError("member diverged") if p["x"] == 0.25 else p["x"] * 10 for p in params_list
        ]


class Recording(InProcessRunner):
    def __init__(self, objective):
        super().__init__(as_objective_call(objective))
        self.tasks = []

    def submit(self, task):
        self.tasks.append(task)
        super().submit(task)


class PruneLow(optuna.pruners.BasePruner):
    """Prunes a trial whose last report is 0 (no warm-up, no other trials needed)."""

    def prune(self, study, trial):
        step = trial.last_step
        return step is not None and trial.intermediate_values[step] == 0.0


def _study(queued, pruner=None):
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner
    )
    for x in queued:
        study.enqueue_trial({"x": x})
    return study


def _config(n_trials):
    data = {"name": "groups", "storage": "memory", "n_trials": n_trials, "runner": "inprocess"}
    return validate(StudyConfig, data, "test")


def _coordinate(study, objective, n_trials, group_key, max_group):
    runner = Recording(objective)
    coordinator = Coordinator(
        study, SPACE, runner, _config(n_trials), group_key=group_key, max_group=max_group
    )
    coordinator.run()
    return runner.tasks, coordinator


def _shape(tasks):
    """Each task as the trial numbers it ran."""
    return [[t.key for t in task.trials] for task in tasks]


def test_queued_group_of_four_each_member_its_own_record_and_pruning():
    study = _study([0.1, 0.25, 0.35, 0.4], pruner=PruneLow())
    objective = Heads()
    tasks, _ = _coordinate(study, objective, 4, lambda p: "head", 4)
    # the failed member does not count for n_trials: a fifth trial (sampled, alone) replaces it
    assert _shape(tasks) == [[0, 1, 2, 3], [4]]
    assert objective.groups[0] == [0.1, 0.25, 0.35, 0.4]
    trials = study.trials[:4]
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert trials[0].value == 1.0 and trials[3].value == 4.0
    assert trials[1].user_attrs["fail_reason"] == "ValueError: member diverged"
    assert trials[2].intermediate_values == {0: 0.35, 1: 0.0}  # pruned at step 1
    assert trials[3].intermediate_values == {0: 0.4, 1: 1.4, 2: 2.4}
    for t in trials:
        assert t.user_attrs["tunesmith_group"] == 0
        assert t.user_attrs["tunesmith_group_size"] == 4


def test_buckets_by_key_and_max_group():
    # a: x < 0.5, b: 0.5 <= x < 0.65, no key (runs alone): x >= 0.65
    def key(p):
        return None if p["x"] >= 0.65 else ("a" if p["x"] < 0.5 else "b")

    study = _study([0.1, 0.2, 0.6, 0.3, 0.7, 0.4, 0.45])
    tasks, _ = _coordinate(study, Heads(), 7, key, 3)
    # asks of three: [0.1 0.2 | 0.6], [0.3 | 0.7 | 0.4 -> joins 0.3], [0.45]
    assert _shape(tasks) == [[0, 1], [2], [3, 5], [4], [6]]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert study.trials[5].user_attrs["tunesmith_group"] == 3
    assert "tunesmith_group" not in study.trials[2].user_attrs


def test_only_queued_trials_are_grouped():
    study = _study([0.1, 0.2])
    tasks, _ = _coordinate(study, Heads(), 5, lambda p: "head", 4)
    assert _shape(tasks) == [[0, 1], [2], [3], [4]]  # the sampler's trials run alone
    assert len(study.trials) == 5


def test_n_trials_caps_a_group():
    study = _study([0.1, 0.2, 0.3, 0.4, 0.5])
    tasks, _ = _coordinate(study, Heads(), 3, lambda p: "head", 4)
    assert _shape(tasks) == [[0, 1, 2]]
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.WAITING] * 2


def test_without_grouping_every_trial_is_its_own_task():
    study = _study([0.1, 0.2, 0.3])
    tasks, _ = _coordinate(study, Heads(), 3, lambda p: "head", 1)
    assert _shape(tasks) == [[0], [1], [2]]
    tasks, _ = _coordinate(_study([0.1, 0.2]), Heads(), 2, lambda p: None, 4)
    assert _shape(tasks) == [[0], [1]]


def test_max_group_needs_a_group_key():
    with pytest.raises(ValueError, match="max_group = 2 needs a group_key"):
        Coordinator(_study([]), SPACE, Recording(Heads()), _config(1), max_group=2)
    with pytest.raises(ValueError, match="max_group must be >= 1"):
        Coordinator(_study([]), SPACE, Recording(Heads()), _config(1), max_group=0)


def test_a_member_costs_its_share_of_the_group():
    assert member_seconds(8.0, 0.0, 4) == 2.0
    assert member_seconds(8.0, 4.0, 4) == 1.0  # the group's set-up comes off before sharing
    assert member_seconds(3.0, 1.0, 1) == 2.0
    study = _study([])
    recorder = Recorder(study, 1)
    recorder.record(study.ask(), Outcome(0, "ok", value=1.0), wall=8.0, size=4)
    assert recorder.durations == [2.0]

    start = datetime.datetime(2026, 1, 1)
    trial = optuna.trial.create_trial(
        value=1.0, user_attrs={"tunesmith_group": 0, "tunesmith_group_size": 4}
    )
    trial.datetime_start, trial.datetime_complete = start, start + datetime.timedelta(seconds=8)
    assert trial_seconds(trial) == 2.0
    trial.set_user_attr("setup_seconds", 4.0)
    assert trial_seconds(trial) == 1.0
    trial.set_user_attr("tunesmith_group_size", 1)
    assert trial_seconds(trial) == 4.0


def test_run_study_groups_in_worker_processes(tmp_path):
    url = f"sqlite:///{tmp_path}/groups.db"
    study = optuna.create_study(study_name="groups", storage=url, direction="maximize")
    for x in (0.1, 0.2, 0.3):
        study.enqueue_trial({"x": x})
    data = {"name": "groups", "storage": url, "n_trials": 3, "runner": "local", "workers": 1}
    config = validate(StudyConfig, data, "test")
    study = run_study(config, SPACE, Heads(), group_key=lambda p: "head", max_group=3)
    trials = study.trials
    assert [t.value for t in trials] == [1.0, 2.0, 3.0]
    assert {t.user_attrs["tunesmith_group_size"] for t in trials} == {3}
