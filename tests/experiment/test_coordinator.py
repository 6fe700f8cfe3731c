"""The coordinator, run in-process on in-memory or SQLite studies (fast: no worker processes)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.errors import ConfigError, StudyFailedError
from tunesmith.experiment import TrialPruned, tune

X = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def _tune(objective, space=X, **kw):
    kw.setdefault("runner", "inprocess")
    kw.setdefault("sampler", "random")
    kw.setdefault("seed", 0)
    return tune(objective, space, **kw)


def test_tune_finds_optimum_and_counts_trials():
    res = _tune(lambda p: -((p["x"] - 0.3) ** 2), n_trials=12)
    assert len(res.trials) == 12
    assert (res.trials["state"] == "COMPLETE").all()
    best = max(res.study.trials, key=lambda t: t.value)
    assert res.best_value == best.value and res.best_params == best.params
    assert res.storage == "memory"


def test_errors_and_nan_fail_with_reason_and_study_goes_on():
    def objective(p):
        if p["x"] < 0.3:
            raise RuntimeError(f"bad x {p['x']:.2f}")
        if p["x"] > 0.7:
            return float("nan")
        return p["x"]

    res = _tune(objective, n_trials=15)
    trials = res.study.trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 15  # failures do not use up the budget
    assert failed, "random sampling over [0,1] must hit x < 0.3 or x > 0.7"
    for t in failed:
        reason = t.user_attrs["fail_reason"]
        if t.params["x"] < 0.3:
            assert reason.startswith("RuntimeError: bad x")
            assert "Traceback" in t.user_attrs["fail_traceback"]
        else:
            assert "nan" in reason


def test_consecutive_failures_stop_with_first_error():
    calls = []

    def objective(p):
        calls.append(p)
        raise ValueError(f"boom {len(calls)}")

    with pytest.raises(StudyFailedError) as info:
        _tune(objective, n_trials=50, max_consecutive_failures=4)
    assert info.value.exit_code == 3
    assert "boom 1" in str(info.value) and "4 trials failed in a row" in str(info.value)
    assert len(calls) == 4


def test_pruned_trials_keep_last_reported_value():
    def objective(p, reporter):
        for step in range(5):
            value = p["x"] * (step + 1)
            if reporter.report(step, value):
                return value  # returning after a prune answer still records PRUNED
        return value

    res = _tune(
        objective,
        n_trials=12,
        pruner={"name": "median", "options": {"n_startup_trials": 2, "n_warmup_steps": 0}},
    )
    pruned = [t for t in res.study.trials if t.state == TrialState.PRUNED]
    assert pruned, "the median pruner must prune some of 12 random trials"
    for t in pruned:
        last = max(t.intermediate_values)
        assert t.value == t.intermediate_values[last]
        assert last < 4


def test_raising_trial_pruned_is_pruned():
    def objective(p, reporter):
        reporter.report(0, p["x"])
        raise TrialPruned()

    res = _tune(objective, n_trials=3)
    assert [t.state for t in res.study.trials] == [TrialState.PRUNED] * 3
    assert all(t.value == t.params["x"] for t in res.study.trials)


def test_dict_result_with_metric_and_extra_attrs():
    res = _tune(lambda p: {"acc": p["x"], "loss": 1 - p["x"]}, n_trials=3, metric="acc")
    for t in res.study.trials:
        assert t.value == t.params["x"]
        assert t.user_attrs["loss"] == pytest.approx(1 - t.params["x"])


def test_dict_result_without_metric_fails_trials():
    with pytest.raises(StudyFailedError, match="set study.metric"):
        _tune(lambda p: {"acc": p["x"]}, n_trials=3, max_consecutive_failures=2)


def test_multi_objective_keeps_pareto_front():
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    res = _tune(
        lambda p: (p["x"], (p["x"] - 0.5) ** 2),
        space,
        n_trials=16,
        directions=["maximize", "minimize"],
    )
    assert res.best_value is None and res.best_params is None
    complete = [t for t in res.study.trials if t.state == TrialState.COMPLETE]

    def dominates(a, b):
        return (a.values[0] >= b.values[0] and a.values[1] <= b.values[1]) and a.values != b.values

    front = {t.number for t in complete if not any(dominates(o, t) for o in complete)}
    assert {t.number for t in res.best_trials} == front


def test_target_and_patience_stop_early():
    res = _tune(lambda p: p["x"], n_trials=200, target=0.5)
    assert res.best_value >= 0.5 and len(res.trials) < 200
    values = []

    def objective(p):
        values.append(len(values))
        return 1.0 if len(values) == 2 else 0.0

    res = _tune(objective, n_trials=100, patience=3)
    assert len(values) == 5  # best at trial 1, then 3 trials without improvement


def test_grid_stops_when_exhausted():
    space = {
        "a": {"type": "int", "low": 0, "high": 2},
        "b": {"type": "categorical", "choices": ["u", "v"]},
    }
    res = _tune(lambda p: p["a"], space, sampler="grid", n_trials=50)
    seen = [(t.params["a"], t.params["b"]) for t in res.study.trials]
    assert sorted(seen) == sorted({(a, b) for a in range(3) for b in "uv"})


def test_resume_and_plain_optuna_load(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    _tune(lambda p: p["x"], n_trials=4, storage=url, study_name="res")
    res = _tune(lambda p: p["x"], n_trials=7, storage=url, study_name="res")
    # A resumed seeded study moves its sampler seed on by the trials it holds, so it draws new
    # points instead of the first run's four again (no re-sampled duplicates, no repeats).
    repeats = [t for t in res.study.trials if "duplicate_of" in t.user_attrs]
    assert repeats == []
    assert len(res.study.trials) == 7 and all(
        t.state == TrialState.COMPLETE for t in res.study.trials
    )
    assert len({t.params["x"] for t in res.study.trials}) == 7
    loaded = optuna.load_study(study_name="res", storage=url)
    assert len(loaded.trials) == 7 + len(repeats) and loaded.best_value == res.best_value
    owner = loaded.trials[0].user_attrs["owner"]
    assert set(owner) == {"host", "pid", "run", "started"}
    assert loaded.trials[0].user_attrs["lease_until"] > owner["started"]
    with pytest.raises(ConfigError, match="directions"):
        _tune(lambda p: p["x"], n_trials=8, storage=url, study_name="res", direction="minimize")


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown sampler"):
        _tune(lambda p: 0.0, sampler="nope")
    with pytest.raises(ConfigError, match="runner"):
        _tune(lambda p: 0.0, runner="threads")
    with pytest.raises(ConfigError, match="low must be < high"):
        _tune(lambda p: 0.0, {"x": {"type": "float", "low": 1, "high": 0}})
    assert math.isfinite(_tune(lambda p: 1.0, n_trials=1).best_value)


def test_timeout_without_trial_budget():
    import time

    def objective(p):
        time.sleep(0.05)
        return p["x"]

    start = time.monotonic()
    res = _tune(objective, n_trials=None, timeout=0.6)
    assert time.monotonic() - start < 3
    assert 2 <= len(res.trials) <= 15


def test_space_of_param_spec_objects_and_seeded_trials():
    from tunesmith.config.search import CategoricalParam, FloatParam

    space = {
        "lr": FloatParam(low=1e-4, high=1e-1, log=True),
        "opt": CategoricalParam(choices=["adam", "sgd"]),
    }
    seen = []

    def objective(p):
        import random

        seen.append(random.random())
        return p["lr"]

    a = _tune(objective, space, n_trials=3, seed=5)
    first = list(seen)
    seen.clear()
    b = _tune(objective, space, n_trials=3, seed=5)
    assert a.best_params == b.best_params and set(a.best_params) == {"lr", "opt"}
    assert seen == first  # seeding happens per trial, from the study seed
