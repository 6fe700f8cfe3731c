"""Evaluation metrics on numpy arrays, keyed by the ``train.metric`` value.

Every metric takes ``(y_true, outputs)``: for classification ``outputs`` are class probabilities
``[N, C]`` (softmax of the logits); for regression predictions ``[N]``. Each entry knows whether
greater is better and the task it applies to, so a selection metric can be turned into a score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tunesmith.utils.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    """One metric: its function, direction and task."""

    fn: MetricFn
    greater_is_better: bool
    task: str


def _labels(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs).argmax(axis=1)


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(_labels(p) == y))


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    pred = _labels(p)
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls))


def _prf(kind: str, average: str) -> MetricFn:
    """precision / recall / f1 with macro, micro or weighted averaging over the true+pred labels."""

    def fn(y: np.ndarray, p: np.ndarray) -> float:
        pred = _labels(p)
        classes = np.union1d(np.unique(y), np.unique(pred))
        tp = np.array([np.sum((pred == c) & (y == c)) for c in classes], dtype=float)
        fp = np.array([np.sum((pred == c) & (y != c)) for c in classes], dtype=float)
        fn_ = np.array([np.sum((pred != c) & (y == c)) for c in classes], dtype=float)
        if average == "micro":
            tp, fp, fn_ = tp.sum(keepdims=True), fp.sum(keepdims=True), fn_.sum(keepdims=True)
        prec = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        rec = np.divide(tp, tp + fn_, out=np.zeros_like(tp), where=(tp + fn_) > 0)
        denom = prec + rec
        f1 = np.divide(2 * prec * rec, denom, out=np.zeros_like(tp), where=denom > 0)
        values = {"precision": prec, "recall": rec, "f1": f1}[kind]
        if average == "weighted":
            support = np.array([np.sum(y == c) for c in classes], dtype=float)
            return float(np.sum(values * support) / support.sum())
        return float(np.mean(values))

    return fn


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (scipy's ``rankdata`` default)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Binary ROC AUC of the class-1 probability (Mann-Whitney U with tied ranks averaged)."""
    probs = np.asarray(p)
    if probs.ndim != 2 or probs.shape[1] != 2:
        return float("nan")
    score = probs[:, 1]
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    probs = np.clip(np.asarray(p, dtype=float), 1e-15, 1.0)
    probs = probs / probs.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y.astype(int)])))


def _flat(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y, dtype=float).reshape(-1), np.asarray(p, dtype=float).reshape(-1)


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    a, b = _flat(y, p)
    return float(np.mean((a - b) ** 2))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(_mse(y, p)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    a, b = _flat(y, p)
    return float(np.mean(np.abs(a - b)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    a, b = _flat(y, p)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    ss_res = float(np.sum((a - b) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


def _registry() -> Registry[Metric]:
    cls, reg = "classification", "regression"
    out: dict[str, Metric] = {
        "accuracy": Metric(_accuracy, True, cls),
        "balanced_accuracy": Metric(_balanced_accuracy, True, cls),
        "roc_auc": Metric(_roc_auc, True, cls),
        "log_loss": Metric(_log_loss, False, cls),
        "mse": Metric(_mse, False, reg),
        "rmse": Metric(_rmse, False, reg),
        "mae": Metric(_mae, False, reg),
        "r2": Metric(_r2, True, reg),
    }
    for kind in ("precision", "recall", "f1"):
        for average in ("macro", "micro", "weighted"):
            out[f"{kind}_{average}"] = Metric(_prf(kind, average), True, cls)
    return Registry("metric", out)


#: metric name (``train.metric``) -> :class:`Metric`.
METRICS: Registry[Metric] = _registry()


def get_metric(name: str) -> Metric:
    return METRICS.lookup(name, "train.metric")


def compute_metrics(y_true: np.ndarray, outputs: np.ndarray, task: str) -> dict[str, float]:
    """Every metric of ``task`` on one evaluation (roc_auc only for binary tasks)."""
    y = np.asarray(y_true)
    out: dict[str, float] = {}
    for name, metric in METRICS.items():
        if metric.task != task:
            continue
        if name == "roc_auc" and (np.ndim(outputs) != 2 or np.shape(outputs)[1] != 2):
            continue
        out[name] = metric.fn(y, outputs)
    return out


def is_better(
    new: float, best: float | None, greater_is_better: bool, min_delta: float = 0.0
) -> bool:
    """Whether ``new`` improves on ``best`` by more than ``min_delta`` (NaN never improves)."""
    if new != new:  # NaN
        return False
    if best is None or best != best:
        return True
    return new > best + min_delta if greater_is_better else new < best - min_delta
