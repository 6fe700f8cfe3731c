"""A regression search with nothing else set: MSE loss and a minimising study (issue 14)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import MODEL, load, tiny_workdir  # noqa: E402

from tunesmith.config.finetune import FinetuneConfig  # noqa: E402
from tunesmith.config.loader import validate  # noqa: E402
from tunesmith.errors import ConfigError  # noqa: E402
from tunesmith.experiment import kinds  # noqa: E402

__all__ = ["tiny_workdir"]


def _regression_npz(folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    paths = {}
    for name, n in (("train", 120), ("validation", 40), ("test", 40)):
        x = rng.normal(size=(n, 6)).astype(np.float32)
        y = (x[:, 0] * 2 - x[:, 1]).astype(np.float32)
        np.savez(folder / f"{name}.npz", x=x, y=y)
        paths[name] = str(folder / f"{name}.npz")
    return paths


def _experiment(paths: dict[str, str], **study: object) -> dict[str, object]:
    model = dict(MODEL)  # the head is replaced: one output for regression
    return {
        "study": {"name": "reg", "n_trials": 2, "runner": "inprocess", **study},
        "space": {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}},
        "model": model,
        "data": {"format": "npz", "task": "regression", **paths},
        "train": {"epochs": 2, "device": "cpu"},
        "recheck": {"top_k": 1, "seeds": 0},
    }


def test_a_regression_job_defaults_to_mse_loss() -> None:
    job = validate(FinetuneConfig, {"data": {"builtin": "digits", "task": "regression"}}, "t")
    assert job.train.loss.name == "mse" and job.train.resolved_metric("regression") == "mse"
    named = {
        "data": {"builtin": "digits", "task": "regression"},
        "train": {"loss": {"name": "huber"}},
    }
    assert validate(FinetuneConfig, named, "t").train.loss.name == "huber"
    classify = validate(FinetuneConfig, {"data": {"builtin": "digits"}}, "t")
    assert classify.train.loss.name == "cross_entropy"


def test_a_regression_search_with_nothing_else_set_minimises_mse(tiny_workdir: Path) -> None:
    paths = _regression_npz(tiny_workdir)
    prepared = kinds.prepare(load(_experiment(paths)))
    assert prepared.study.all_directions == ["minimize"] and prepared.study.metric == "mse"
    assert prepared.config.train.loss.name == "mse"
    study = kinds.run(prepared)
    assert study.direction.name == "MINIMIZE"
    assert all(t.value is not None and t.value >= 0 for t in study.trials)


def test_a_direction_given_against_the_metric_is_still_refused(tiny_workdir: Path) -> None:
    paths = _regression_npz(tiny_workdir)
    with pytest.raises(ConfigError, match=r"study.direction.*'mse'.*minimize"):
        kinds.prepare(load(_experiment(paths, direction="maximize")))
