"""Each worker process gets its share of the cores, so N workers do not oversubscribe them."""

import os

import pytest

from tunesmith.experiment import tune


def _threads(params):
    import torch

    return {"omp": float(os.environ["OMP_NUM_THREADS"]), "torch": float(torch.get_num_threads())}


def test_workers_split_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    result = tune(
        _threads,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler="random",
        n_trials=2,
        workers=2,
        metric="omp",
        seed=0,
    )
    share = max(1, (os.cpu_count() or 1) // 2)
    assert set(result.trials["value"]) == {share}
    assert set(result.trials["user_attrs_torch"]) == {share}


def test_a_users_thread_setting_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = tune(
        _threads,
        {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler="random",
        n_trials=1,
        workers=1,
        metric="omp",
        seed=0,
    )
    assert result.best_value == pytest.approx(1.0)
