"""Small in-memory Optuna studies for the report tests."""

from __future__ import annotations

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

EVIL = '<script>alert("x")</script>&'


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    opt = trial.suggest_categorical("optimizer", ["adamw", "sgd", EVIL])
    k = trial.suggest_int("freeze_k", 0, 4)
    if trial.number == 3:
        raise RuntimeError("CUDA out of memory <boom>")
    score = 0.5 + 0.4 * (1 - abs(lr - 0.01) * 5) - 0.02 * k + (0.05 if opt == "adamw" else 0.0)
    for step in range(1, 6):
        value = score * step / 5
        trial.report(value, step)
        if trial.number in (5, 7) and step == 2:
            raise optuna.TrialPruned()
    trial.set_user_attr("best_epoch", 5)
    return score


def make_study(n_trials: int = 12, with_attrs: bool = True) -> optuna.Study:
    study = optuna.create_study(
        study_name="demo <b>study</b>",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(_objective, n_trials=n_trials, catch=(RuntimeError,))
    if with_attrs:
        best = study.best_trial
        study.set_user_attr(
            "recheck",
            [
                {"trial": best.number, "params": best.params, "seeds": [0, 1, 2],
                 "scores": [0.81, 0.8, 0.79], "mean": 0.8, "std": 0.0082, "winner": True},
                {"trial": 0, "params": {"lr": 0.001, EVIL: 1}, "seeds": [0, 1, 2],
                 "scores": [0.7, 0.71, 0.69], "mean": 0.7, "std": 0.0082, "winner": False},
            ],
        )
        study.set_user_attr(
            "final",
            {"metric": "accuracy", "validation": {"accuracy": 0.812, "f1": 0.8},
             "test": {"accuracy": 0.7654, "f1": 0.75}, "retrained_on_train_val": True,
             "best_trial": best.number},
        )
    return study


@pytest.fixture
def study() -> optuna.Study:
    return make_study()
