"""Proposals that differ from a finished trial only in a smaller fidelity are answered from its
reports instead of running (plain Python objectives, in-process, in memory)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.config.experiment import StudyConfig
from tunesmith.config.loader import validate
from tunesmith.errors import ConfigError
from tunesmith.experiment import TrialPruned
from tunesmith.experiment.budget import trial_seconds
from tunesmith.experiment.fidelity import FIDELITY_OF, best_report
from tunesmith.experiment.runtime import run_study
from tunesmith.search.space import SearchSpace

SPACE = SearchSpace.from_config(
    {
        "lr": {"type": "categorical", "choices": [0.1, 0.2]},
        "epochs": {"type": "int", "low": 1, "high": 4},
    }
)
CURVE = [0.5, 0.7, 0.6, 0.9]  # the value reported after each epoch, plus the lr


class Curve:
    """Reports ``CURVE[s - 1] + lr`` at steps 1..epochs; returns the best (or the lowest)."""

    def __init__(self, prune: dict[tuple[float, int], int] | None = None, sign: float = 1.0):
        self.calls: list[dict[str, Any]] = []
        self.prune = prune or {}  # (lr, epochs) -> the step after which the run is pruned
        self.sign = sign

    def __call__(self, params: dict[str, Any], reporter: Any) -> float:
        self.calls.append(dict(params))
        lr, epochs = params["lr"], params["epochs"]
        values = []
        for step in range(1, epochs + 1):
            values.append(self.sign * (CURVE[step - 1] + lr))
            reporter.report(step, values[-1])
            if self.prune.get((lr, epochs)) == step:
                raise TrialPruned()
        return max(values) if self.sign > 0 else min(values)


def _run(objective: Curve, queued: list[dict[str, Any]], direction: str = "maximize") -> Any:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="f", storage=storage, direction=direction)
    for params in queued:
        study.enqueue_trial(params)
    data = {"name": "f", "storage": "memory", "direction": direction, "sampler": "random",
            "n_trials": len(queued), "runner": "inprocess", "seed": 0}  # fmt: skip
    events: list[Any] = []
    config = validate(StudyConfig, data, "test")
    run_study(config, SPACE, objective, storage=storage, on_event=events.append, fidelity="epochs")
    return study, events


def test_a_shorter_run_is_answered_from_the_longer_one_without_running():
    objective = Curve()
    queued = [{"lr": 0.1, "epochs": 4}, {"lr": 0.1, "epochs": 3}, {"lr": 0.2, "epochs": 2}]
    study, events = _run(objective, queued)
    assert [(c["lr"], c["epochs"]) for c in objective.calls] == [(0.1, 4), (0.2, 2)]
    longer, answered, other = study.trials
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert answered.value == pytest.approx(0.7 + 0.1)  # best of the first 3 reports, at step 2
    assert answered.user_attrs[FIDELITY_OF] == 0 and answered.user_attrs["best_epoch"] == 2
    assert answered.intermediate_values == {s: longer.intermediate_values[s] for s in (1, 2, 3)}
    assert FIDELITY_OF not in longer.user_attrs and FIDELITY_OF not in other.user_attrs
    assert trial_seconds(answered) is None and trial_seconds(longer) is not None
    finished = [e for e in events if e.kind == "trial_finished" and e.trial == 1]
    assert len(finished) == 1 and finished[0].state == "COMPLETE"
    assert finished[0].values == pytest.approx((0.8,))
    assert finished[0].progress.complete == 2  # counted like any completed trial


def test_a_longer_run_than_a_finished_one_runs_in_full():
    objective = Curve()
    study, _ = _run(objective, [{"lr": 0.1, "epochs": 2}, {"lr": 0.1, "epochs": 4}])
    assert [c["epochs"] for c in objective.calls] == [2, 4]
    assert all(FIDELITY_OF not in t.user_attrs for t in study.trials)
    assert study.trials[1].value == pytest.approx(1.0)


def test_a_pruned_run_answers_only_for_the_steps_it_reported():
    objective = Curve(prune={(0.1, 4): 2})  # reports steps 1 and 2, then pruned
    queued = [{"lr": 0.1, "epochs": 4}, {"lr": 0.1, "epochs": 3}, {"lr": 0.1, "epochs": 2}]
    study, _ = _run(objective, queued)
    assert [c["epochs"] for c in objective.calls] == [4, 3]  # 3 steps: more than were reported
    pruned, ran, answered = study.trials
    assert pruned.state == TrialState.PRUNED and ran.state == TrialState.COMPLETE
    assert FIDELITY_OF not in ran.user_attrs
    assert answered.state == TrialState.COMPLETE and answered.user_attrs[FIDELITY_OF] == 0
    assert answered.value == pytest.approx(0.8)


def test_a_minimising_study_is_told_the_lowest_report():
    objective = Curve(sign=-1.0)
    study, _ = _run(objective, [{"lr": 0.2, "epochs": 4}, {"lr": 0.2, "epochs": 3}], "minimize")
    assert len(objective.calls) == 1
    assert study.trials[1].value == pytest.approx(-(0.7 + 0.2))
    assert study.trials[1].user_attrs["best_epoch"] == 2


def test_best_report_skips_non_finite_values_and_keeps_the_earliest_of_equals():
    assert best_report({1: float("nan"), 2: 0.5, 3: 0.5, 4: 0.1}, maximize=True) == (2, 0.5)
    assert best_report({1: 0.3, 2: 0.1, 3: 0.1}, maximize=False) == (2, 0.1)
    assert best_report({1: float("nan")}, maximize=True) is None


def test_a_multi_objective_study_cannot_share_runs():
    data = {"name": "m", "storage": "memory", "directions": ["maximize", "minimize"],
            "runner": "inprocess", "n_trials": 1}  # fmt: skip
    config = validate(StudyConfig, data, "test")
    with pytest.raises(ConfigError, match="single-objective study"):
        run_study(config, SPACE, Curve(), fidelity="epochs")


def test_an_answered_trial_answers_too_and_names_the_trial_that_ran():
    objective = Curve()
    queued = [{"lr": 0.1, "epochs": 4}, {"lr": 0.1, "epochs": 3}, {"lr": 0.1, "epochs": 2}]
    study, _ = _run(objective, queued)
    assert len(objective.calls) == 1
    assert [t.user_attrs.get(FIDELITY_OF) for t in study.trials] == [None, 0, 0]
