"""Contract tests: every registered sampler and pruner passes the same assertions."""

from __future__ import annotations

import math
import statistics

import optuna
import pytest

from tunesmith.config.search import PRUNER_NAMES, SAMPLER_NAMES, PrunerConfig, SamplerConfig
from tunesmith.search.pruners import PRUNERS, create_pruner
from tunesmith.search.samplers import SAMPLERS, create_sampler
from tunesmith.search.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0, "grid": [0.0, 0.5, 1.0]},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True, "grid": [1e-5, 1e-3, 1e-1]},
    "n": {"type": "int", "low": 1, "high": 3},
    "m": {"type": "int", "low": 0, "high": 8, "step": 4},
    "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
    "mom": {"type": "float", "low": 0.5, "high": 0.9, "grid": [0.5, 0.9], "when": {"opt": "sgd"}},
    "epochs": {"type": "fixed", "value": 3},
}
GRID_SIZE = 3 * 3 * 3 * 3 * (1 + 2)  # opt=adam: no mom; opt=sgd: two mom values

# GP refits a model each trial: keep its run short (10 random start-up trials + 6 GP trials).
N_TRIALS = {"gp": 16}


def _run(name: str, seed: int, n_trials: int) -> tuple[list[dict], optuna.Study]:
    space = SearchSpace.from_config(SPACE)
    sampler = create_sampler(SamplerConfig(name=name, seed=seed), space, n_trials, ["minimize"])
    study = optuna.create_study(sampler=sampler)
    seen: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        seen.append(params)
        # Does not depend on lr, so where lr lands reflects how it is sampled, not optimised.
        return (params["x"] - 0.3) ** 2 + params["n"] + params["m"] / 8 + params.get("mom", 0.7)

    study.optimize(objective, n_trials=n_trials)
    return seen, study


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sampler_contract(name: str) -> None:
    n_trials = N_TRIALS.get(name, 40)
    seen, study = _run(name, seed=7, n_trials=n_trials)
    assert len(seen) == n_trials
    specs = SearchSpace.from_config(SPACE).specs
    for params in seen:
        # bounds (and steps) respected
        for key in ("x", "lr", "n", "m", "mom"):
            if key in params:
                assert specs[key].possible(params[key]), (key, params[key])
        assert isinstance(params["n"], int) and isinstance(params["m"], int)
        assert params["m"] % 4 == 0
        assert params["opt"] in ("sgd", "adam")
        assert params["epochs"] == 3
        # the conditional parameter is present exactly when its condition holds
        assert ("mom" in params) == (params["opt"] == "sgd")
    for trial in study.trials:
        assert "epochs" not in trial.params  # fixed values are not sampled parameters
        assert trial.distributions["lr"].log is True
        assert ("mom" in trial.params) == (trial.params["opt"] == "sgd")
    # log parameters are sampled in log space: under uniform sampling in linear space only ~1 %
    # of lr values would fall below the geometric midpoint 1e-3; in log space about half do.
    logs = [math.log10(p["lr"]) for p in seen]
    below = sum(v < -3 for v in logs) / len(logs)
    assert 0.15 <= below <= 0.85, (name, below, statistics.median(logs))
    # same seed, same sequence; another seed, another sequence (grid: another order)
    again, _ = _run(name, seed=7, n_trials=n_trials)
    assert again == seen
    other, _ = _run(name, seed=8, n_trials=n_trials)
    assert other != seen


def test_grid_covers_every_point_exactly_once() -> None:
    space = SearchSpace.from_config(SPACE)
    points = space.grid_points()
    assert len(points) == GRID_SIZE
    seen, study = _run("grid", seed=0, n_trials=GRID_SIZE + 5)  # the grid stops the study itself
    assert len(seen) == GRID_SIZE
    key = lambda p: tuple(sorted(p.items()))  # noqa: E731
    assert sorted(map(key, seen)) == sorted(map(key, points))
    assert len(set(map(key, seen))) == GRID_SIZE


def test_config_literals_match_registries() -> None:
    assert set(SAMPLER_NAMES) == set(SAMPLERS)
    assert set(PRUNER_NAMES) == set(PRUNERS)
    for name, entry in SAMPLERS.items():
        if name != "auto":
            assert callable(entry.load())
    for entry in PRUNERS.values():
        assert isinstance(entry.load(), type)


# --- pruners -------------------------------------------------------------------------------

N_STEPS = 16


def _curve(trial_number: int, step: int) -> float:
    """Even trials learn (loss falls to ~0.06); odd trials are clearly worse (loss ~10)."""
    worse = trial_number % 2 == 1
    return (10.0 if worse else 0.0) + 1.0 / (step + 1)


def _prune_study(name: str) -> optuna.Study:
    pruner = create_pruner(PrunerConfig(name=name))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        value = math.nan
        for step in range(N_STEPS):
            value = _curve(trial.number, step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=24)
    return study


@pytest.mark.parametrize("name", list(PRUNERS))
def test_pruner_contract(name: str) -> None:
    study = _prune_study(name)
    pruned = [t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) + len(complete) == 24
    if name == "none":
        assert pruned == []
        return
    assert pruned, f"{name} pruned nothing although half the trials are clearly worse"
    assert all(n % 2 == 1 for n in pruned), f"{name} pruned a good trial: {pruned}"
    # the good trials all finish
    assert all(n in complete for n in range(0, 24, 2))
