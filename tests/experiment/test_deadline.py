"""Running trials respect the deadline (issue 10, item 1): the budget ends a trial at its next
report, or at once when its own pace projects its finish past the deadline; such a trial is
recorded COMPLETE with its best result so far and ``stopped_by: budget``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from optuna.trial import TrialState

from tunesmith.config.experiment import StudyConfig
from tunesmith.experiment import run_study, tune
from tunesmith.experiment.deadline import BUDGET, STOPPED_BY, Deadline
from tunesmith.runners.base import Outcome, TrialPruned
from tunesmith.search.space import SearchSpace
from tunesmith.storage.study import make_storage

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_without_a_timeout_no_trial_is_ever_cut() -> None:
    clock = Clock()
    deadline = Deadline(None, 0.0, now=clock)
    deadline.begin(0, {})
    clock.t = 1e9
    assert not deadline.cut(0, 1, 0.5)
    outcome = Outcome(0, "pruned")
    assert deadline.settle(outcome) == (outcome, None)


def test_a_report_after_the_deadline_is_answered_stop() -> None:
    clock = Clock()
    deadline = Deadline(10.0, 0.0, now=clock)
    deadline.begin(3, {})
    clock.t = 2.0
    assert not deadline.cut(3, 1, 0.5)  # one report: its time holds the set-up, not a pace
    clock.t = 10.5
    assert deadline.cut(3, 2, 0.7)
    assert deadline.cut(3, 3, 0.6)  # once cut, always cut


def test_a_pace_that_projects_past_the_deadline_stops_the_trial_at_once() -> None:
    clock = Clock()
    deadline = Deadline(10.0, 0.0, steps_of=lambda p: p["epochs"], now=clock)
    deadline.begin(0, {"epochs": 10})  # 10 reports, 2 s apart after a 1 s set-up: ends at 19 s
    deadline.begin(1, {"epochs": 4})  # the same pace, 4 reports: ends at 7 s
    clock.t = 1.0
    assert not deadline.cut(0, 1, 0.1) and not deadline.cut(1, 1, 0.1)
    clock.t = 3.0
    assert deadline.cut(0, 2, 0.2)  # well before the deadline, but it cannot finish by it
    assert deadline.projected(0) == pytest.approx(3.0 + 2.0 * 8)
    assert not deadline.cut(1, 2, 0.2)
    assert deadline.projected(1) == pytest.approx(7.0)


def test_without_a_step_count_the_next_report_is_projected() -> None:
    clock = Clock()
    deadline = Deadline(10.0, 0.0, now=clock)
    deadline.begin(0, {})
    for step, now in ((1, 1.0), (2, 4.0), (3, 7.0)):
        clock.t = now
        assert not deadline.cut(0, step, 0.1)
    clock.t = 9.5  # a report 2.5 s after the last: the next would come at 12 s
    assert deadline.cut(0, 4, 0.1)


def test_a_cut_trial_is_complete_with_its_best_result_so_far() -> None:
    clock = Clock()
    deadline = Deadline(1.0, 0.0, now=clock)
    clock.t = 2.0
    for key in (0, 1, 2):
        deadline.begin(key, {})
        deadline.cut(key, 1, 0.3)
        deadline.cut(key, 2, 0.8)
        deadline.cut(key, 3, 0.5)
    returned = Outcome(0, "pruned", value={"acc": 0.8, "stop_reason": "pruned"})
    ok, scale = deadline.settle(returned)
    assert scale == 1.0 and ok.status == "ok" and ok.value == {"acc": 0.8, "stop_reason": BUDGET}
    raised, scale = deadline.settle(Outcome(1, "pruned"))  # raised TrialPruned: best reported
    assert scale == 1.0 and raised.status == "ok" and raised.value == 0.8
    low = Deadline(1.0, 0.0, maximize=False, now=clock)
    low.cut(7, 1, 0.3), low.cut(7, 2, 0.2), low.cut(7, 3, 0.9)
    assert low.settle(Outcome(7, "pruned"))[0].value == 0.2
    failed = Outcome(2, "error", error="boom")
    assert deadline.settle(failed) == (failed, 1.0)  # an error stays an error
    multi = Deadline(1.0, 0.0, single=False, now=clock)
    multi.cut(5, 1, 0.4)
    assert multi.settle(Outcome(5, "pruned")) == (Outcome(5, "pruned"), 1.0)
    counted = Deadline(1.0, 0.0, steps_of=lambda p: 8, now=clock)
    counted.begin(6, {})
    counted.cut(6, 1, 0.1), counted.cut(6, 2, 0.2)
    assert counted.settle(Outcome(6, "pruned"))[1] == 4.0  # 2 of 8 steps: a full run is 4x


def _stepper(steps: int, pace: float, raise_on_stop: bool) -> Any:
    def objective(params: dict[str, Any], reporter: Any) -> float:
        for step in range(1, steps + 1):
            time.sleep(pace)
            if reporter.report(step, params["x"] * step / steps):
                if raise_on_stop:
                    raise TrialPruned()
                break
        return params["x"] * step / steps

    return objective


@pytest.mark.parametrize("raise_on_stop", [False, True])
def test_a_trial_that_would_overrun_the_timeout_is_stopped_and_recorded(raise_on_stop) -> None:
    # One trial of 200 steps x 20 ms (4 s) in a 0.4 s timeout: without the deadline it runs on.
    res = tune(
        _stepper(200, 0.02, raise_on_stop),
        SPACE,
        sampler="random",
        n_trials=1,
        timeout=0.4,
        runner="inprocess",
        seed=0,
    )
    (trial,) = res.study.trials
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs[STOPPED_BY] == BUDGET
    reported = trial.intermediate_values
    assert len(reported) < 200
    assert trial.value == pytest.approx(max(reported.values()))  # its best report so far


class _Epochs:
    """A fine-tuning-like objective that says how many steps it reports (``report_steps``)."""

    def __init__(self, pace: float) -> None:
        self.pace = pace

    def report_steps(self, params: dict[str, Any]) -> int:
        return int(params["epochs"])

    def __call__(self, params: dict[str, Any], reporter: Any) -> dict[str, Any]:
        best = 0.0
        for step in range(1, int(params["epochs"]) + 1):
            time.sleep(self.pace)
            best = max(best, step / 100)
            if reporter.report(step, step / 100):
                return {"acc": best, "stop_reason": "pruned"}
        return {"acc": best, "stop_reason": "done"}


def test_a_trial_whose_pace_cannot_finish_in_time_stops_early() -> None:
    # 50 epochs of 0.1 s (5 s) against a 3 s timeout: after two reports its pace projects a
    # finish at about 5 s, so it stops then, long before the deadline itself.
    space = SearchSpace.from_config({"epochs": {"type": "fixed", "value": 50}})
    cfg = StudyConfig(name="pace", storage="memory", runner="inprocess", n_trials=1, timeout=3.0)
    cfg = cfg.model_copy(update={"metric": "acc"})
    study = run_study(cfg, space, _Epochs(0.1), storage=make_storage("memory"))
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.user_attrs[STOPPED_BY] == BUDGET
    assert len(trial.intermediate_values) <= 5  # stopped on its pace, not at the deadline (~30)
    assert trial.user_attrs["stop_reason"] == BUDGET
    assert trial.value == pytest.approx(len(trial.intermediate_values) / 100)


def test_a_trial_that_fits_runs_to_its_end() -> None:
    space = SearchSpace.from_config({"epochs": {"type": "fixed", "value": 3}, **SPACE})
    cfg = StudyConfig(name="fits", storage="memory", runner="inprocess", n_trials=2, timeout=60.0)
    cfg = cfg.model_copy(update={"metric": "acc"})
    study = run_study(cfg, space, _Epochs(0.01), storage=make_storage("memory"))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all(STOPPED_BY not in t.user_attrs for t in study.trials)
    assert all(t.user_attrs["stop_reason"] == "done" for t in study.trials)
