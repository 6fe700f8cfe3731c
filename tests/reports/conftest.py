"""Small in-memory Optuna studies for the report tests (built with ask/tell, no training)."""

from __future__ import annotations

import warnings

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: A user string that would run script if it reached the page unescaped.
EVIL = '<img src=x onerror="document.body.dataset.pwned=1"><script>alert("x")</script>&'
FAIL_REASON = "CUDA out of memory <boom>"
PRUNED = (5, 7)
FAILED = (3,)


def make_study(
    n_trials: int = 12,
    with_attrs: bool = True,
    direction: str = "maximize",
    name: str = "demo <b>study</b>",
    storage: str | None = None,
) -> optuna.Study:
    """A study with complete, pruned (5, 7), failed (3) and one running trial.

    ``optimizer`` has a user-supplied category ``EVIL``; ``momentum`` is conditional (sgd only).
    """
    study = optuna.create_study(
        study_name=name,
        direction=direction,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    for i in range(n_trials):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        opt = trial.suggest_categorical("optimizer", ["adamw", "sgd", EVIL])
        k = trial.suggest_int("freeze_k", 0, 4)
        if opt == "sgd":
            trial.suggest_float("momentum", 0.0, 0.99)
        if i in FAILED:
            trial.set_user_attr("fail_reason", FAIL_REASON)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        score = 0.5 + 0.3 * (1 - abs(lr - 0.01) * 5) - 0.02 * k + (0.05 if opt == "adamw" else 0)
        if direction == "minimize":
            score = 1 - score
        for step in range(1, 6):
            trial.report(score * step / 5, step)
            if i in PRUNED and step == 2:
                break
        if i in PRUNED:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        trial.set_user_attr("best_epoch", 4 + i % 2)
        study.tell(trial, score)
    running = study.ask()
    running.suggest_float("lr", 1e-4, 1e-1, log=True)
    running.report(0.1, 1)
    if with_attrs and any(t.state.name == "COMPLETE" for t in study.trials):
        best = study.best_trial
        study.set_user_attr(
            "recheck",
            [
                {
                    "trial": best.number,
                    "params": best.params,
                    "seeds": [0, 1, 2],
                    "scores": [0.81, 0.8, 0.79],
                    "mean": 0.8,
                    "std": 0.0082,
                    "winner": True,
                },
                {
                    "trial": 0,
                    "params": {"lr": 0.001, EVIL: 1},
                    "seeds": [0, 1, 2],
                    "scores": [0.7, 0.71, 0.69],
                    "mean": 0.7,
                    "std": 0.0082,
                    "winner": False,
                },
            ],
        )
        study.set_user_attr(
            "final",
            {
                "metric": "accuracy",
                "validation": {"accuracy": 0.812, "f1": 0.8},
                "test": {"accuracy": 0.7654, "f1": 0.75},
                "retrained_on_train_val": True,
                "best_trial": best.number,
            },
        )
    return study


def make_multi_study(n_trials: int = 10) -> optuna.Study:
    """Two objectives (maximise accuracy, minimise latency)."""
    study = optuna.create_study(
        study_name="multi",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=2),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["accuracy", "latency_ms"])
    for _ in range(n_trials):
        trial = study.ask()
        width = trial.suggest_int("width", 1, 10)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        study.tell(trial, [0.5 + 0.04 * width - abs(lr - 0.01), 2.0 * width])
    return study


@pytest.fixture
def study() -> optuna.Study:
    return make_study()


@pytest.fixture(scope="module")
def shared_study() -> optuna.Study:
    """One :func:`make_study` per test module, for tests that only read it."""
    return make_study()


@pytest.fixture
def multi_study() -> optuna.Study:
    return make_multi_study()


@pytest.fixture
def build_study():
    """The :func:`make_study` factory, for tests that need a variant."""
    return make_study


@pytest.fixture
def evil() -> str:
    return EVIL


@pytest.fixture
def fail_reason() -> str:
    return FAIL_REASON
