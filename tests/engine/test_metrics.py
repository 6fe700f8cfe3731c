"""Metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tunesmith.engine.metrics import METRICS, compute_metrics, get_metric, is_better
from tunesmith.errors import ConfigError

RNG = np.random.default_rng(0)


def _probs(n, c):
    x = RNG.normal(size=(n, c))
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_classification_matches_sklearn(n_classes):
    y = RNG.integers(0, n_classes, 60)
    p = _probs(60, n_classes)
    pred = p.argmax(1)
    got = compute_metrics(y, p, "classification")
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for kind, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        for avg in ("macro", "micro", "weighted"):
            want = fn(y, pred, average=avg, zero_division=0)
            assert got[f"{kind}_{avg}"] == pytest.approx(want), (kind, avg)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=list(range(n_classes))))
    if n_classes == 2:
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    else:
        assert "roc_auc" not in got


def test_roc_auc_with_ties():
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.2, 0.2, 0.8, 0.5, 0.5])
    p = np.stack([1 - s, s], 1)
    assert METRICS["roc_auc"].fn(y, p) == pytest.approx(skm.roc_auc_score(y, s))


def test_regression_matches_sklearn():
    y = RNG.normal(size=40)
    p = y + RNG.normal(scale=0.5, size=40)
    got = compute_metrics(y, p[:, None], "regression")
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert got["r2"] == pytest.approx(skm.r2_score(y, p))
    assert "accuracy" not in got


def test_directions_and_lookup():
    assert METRICS["accuracy"].greater_is_better and not METRICS["log_loss"].greater_is_better
    assert not METRICS["mse"].greater_is_better and METRICS["r2"].greater_is_better
    assert {m.task for m in METRICS.values()} == {"classification", "regression"}
    with pytest.raises(ConfigError, match="accuracy"):
        get_metric("acc")


def test_is_better():
    assert is_better(0.5, None, True)
    assert is_better(0.6, 0.5, True) and not is_better(0.6, 0.5, True, min_delta=0.2)
    assert is_better(0.4, 0.5, False) and not is_better(0.6, 0.5, False)
    assert not is_better(float("nan"), 0.5, True)
