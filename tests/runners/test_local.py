"""Worker processes: closures by value, reports across processes, a killed worker, no lost trial."""

from __future__ import annotations

import os
import signal

import pytest
from optuna.trial import TrialState

from tunesmith.errors import ConfigError
from tunesmith.experiment import tune
from tunesmith.runners.base import as_objective_call
from tunesmith.runners.local import LocalRunner, describe_exit


def test_closure_reports_and_killed_worker():
    offset = 0.25  # captured: the closure travels by value

    def objective(p, reporter):
        if p["k"] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        for step in range(3):
            reporter.report(step, p["k"] + offset + step)
        return {"score": p["k"] + offset, "pid": os.getpid()}

    res = tune(
        objective,
        {"k": {"type": "int", "low": 0, "high": 5}},
        sampler="grid",
        n_trials=6,
        workers=2,
        metric="score",
    )
    trials = {t.params["k"]: t for t in res.study.trials}
    assert set(trials) == set(range(6))
    dead = trials[3]
    assert dead.state == TrialState.FAIL
    assert "SIGKILL" in dead.user_attrs["fail_reason"]
    for k in (0, 1, 2, 4, 5):
        t = trials[k]
        assert t.state == TrialState.COMPLETE and t.value == k + offset
        assert t.intermediate_values == {s: k + offset + s for s in range(3)}
        assert t.user_attrs["pid"] != os.getpid()  # ran in a worker
    assert res.best_params == {"k": 5}


def test_unpicklable_objective_is_config_error():
    import threading

    lock = threading.Lock()
    with pytest.raises(ConfigError, match="runner: inprocess"):
        LocalRunner(as_objective_call(lambda p: bool(lock)), workers=1)


def test_describe_exit():
    assert describe_exit(-9).startswith("killed by signal SIGKILL")
    assert describe_exit(3) == "exited with code 3"


def test_four_workers_on_sqlite_lose_and_duplicate_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/w.db"
    res = tune(
        lambda p: p["x"] ** 2,
        {"x": {"type": "float", "low": -1, "high": 1}},
        sampler="random",
        seed=1,
        n_trials=40,
        workers=4,
        storage=url,
        study_name="four",
    )
    trials = res.study.trials
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx(t.params["x"] ** 2) for t in trials)
    assert len({t.params["x"] for t in trials}) == 40
    assert len({t.user_attrs["owner"]["run"] for t in trials}) == 1
