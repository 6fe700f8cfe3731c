"""The Ray runner: tasks as launchers, reports answered by the coordinator, failures recorded."""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray")
from optuna.trial import TrialState  # noqa: E402

from tunesmith.experiment import tune  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_local():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_ray_runner_reports_prunes_and_fails(ray_local):
    bad = 2

    def objective(p, reporter):
        if p["k"] == bad:
            raise RuntimeError("bad k")
        for step in range(3):
            if reporter.report(step, float(p["k"] * 10 + step)):
                return -1.0
        return float(p["k"])

    res = tune(
        objective,
        {"k": {"type": "int", "low": 0, "high": 4}},
        sampler="grid",
        n_trials=5,
        workers=2,
        runner="ray",
        pruner={"name": "median", "options": {"n_startup_trials": 1, "n_warmup_steps": 0}},
        direction="minimize",
    )
    trials = {t.params["k"]: t for t in res.study.trials}
    assert set(trials) == set(range(5))
    assert trials[bad].state == TrialState.FAIL
    assert "bad k" in trials[bad].user_attrs["fail_reason"]
    for k, t in trials.items():
        if k == bad:
            continue
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert t.intermediate_values and min(t.intermediate_values.values()) == k * 10
        if t.state == TrialState.COMPLETE:
            assert t.value == k
    assert ray.is_initialized()  # the runner leaves a cluster it did not start running


def test_ray_trial_timeout_cancels_the_task(ray_local):
    import time

    def objective(p):
        if p["k"] == 1:
            time.sleep(600)
        return float(p["k"])

    res = tune(
        objective,
        {"k": {"type": "int", "low": 0, "high": 2}},
        sampler="grid",
        n_trials=3,
        workers=2,
        runner="ray",
        trial_timeout=3,
        cpus_per_trial=0.5,
    )
    by_k = {t.params["k"]: t for t in res.study.trials}
    assert by_k[1].state == TrialState.FAIL
    assert by_k[1].user_attrs["fail_reason"] == "timeout after 3 s (study.trial_timeout)"
    assert by_k[0].state == by_k[2].state == TrialState.COMPLETE


def test_ray_group_is_one_task_returning_every_member(ray_local):
    import time

    from tunesmith.runners.base import TrialTask, as_objective_call
    from tunesmith.runners.ray import RayRunner

    class Together:
        def __call__(self, params):
            return params["x"]

        def run_group(self, params_list, reporters):
            for p, r in zip(params_list, reporters):
                r.report(0, p["x"])
            out = [{"x": p["x"], "pid": os.getpid()} for p in params_list]
            out[2] = ValueError("member 2 diverged")
            return out

    members = tuple(TrialTask(k, {"x": float(k)}) for k in range(3))
    runner = RayRunner(as_objective_call(Together()), workers=1)
    try:
        runner.submit(TrialTask(0, members[0].params, None, members))
        outcomes = []
        deadline = time.monotonic() + 60
        while len(outcomes) < 3 and time.monotonic() < deadline:
            outcomes.extend(runner.wait(0.5, lambda key, step, value: key == 1))
    finally:
        runner.close()
    by_key = {o.key: o for o in outcomes}
    assert by_key[0].status == "ok" and by_key[0].value["x"] == 0.0
    assert by_key[1].status == "pruned" and by_key[1].value["x"] == 1.0
    assert by_key[2].status == "error" and by_key[2].error == "ValueError: member 2 diverged"
    assert by_key[0].value["pid"] == by_key[1].value["pid"] != os.getpid()
