"""Callbacks: early stopping and the report hook that carries pruning decisions."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import default_collate

from tunesmith.config.train import TrainConfig
from tunesmith.engine.callbacks import Callback, EarlyStopping, ReportCallback, TrainState
from tunesmith.engine.loop import fit
from tunesmith.engine.models.base import BackboneWithHead, make_head


def _feed(cb, scores, greater=True):
    state = TrainState(metric="m", greater_is_better=greater)
    out = []
    for s in scores:
        state.score = s
        state.history.append({"m": s})
        out.append(cb.on_evaluate(state).stop)
    return out


def test_early_stopping_patience_and_min_delta():
    assert _feed(EarlyStopping(2), [0.5, 0.6, 0.6, 0.55]) == [False, False, False, True]
    assert _feed(EarlyStopping(2, min_delta=0.05), [0.5, 0.52, 0.53]) == [False, False, True]
    assert _feed(EarlyStopping(1, greater_is_better=False), [1.0, 0.9, 0.95]) == [
        False,
        False,
        True,
    ]


def test_report_callback_passes_evaluation_number_and_value():
    calls = []

    def fn(step, value):
        calls.append((step, value))
        return value < 0.5

    cb = ReportCallback(fn)
    assert isinstance(cb, Callback)
    assert _feed(cb, [0.9, 0.7, 0.4]) == [False, False, True]
    assert calls == [(1, 0.9), (2, 0.7), (3, 0.4)]


def _setup():
    torch.manual_seed(0)
    groups = [nn.Linear(4, 8)]
    model = BackboneWithHead(
        nn.Sequential(*groups), groups, make_head(8, 2), lambda b, x: b(x["x"])
    )
    x = torch.randn(32, 4)
    y = (x[:, 0] > 0).long()
    return model, [{"x": x[i], "labels": y[i]} for i in range(32)]


def test_fit_stops_when_report_says_prune():
    model, ds = _setup()
    cb = ReportCallback(lambda step, value: step >= 2)
    res = fit(model, ds, ds, TrainConfig(epochs=6, batch_size=16), collate_fn=default_collate,
              task="classification", num_outputs=2, callbacks=[cb])  # fmt: skip
    assert res.stopped_early and res.reason == "pruned"
    assert len(res.history) == 2


def test_fit_early_stopping_from_config():
    model, ds = _setup()
    cfg = TrainConfig(
        epochs=20, batch_size=16, optimizer={"lr": 1e-9}, early_stopping={"patience": 2}
    )
    res = fit(model, ds, ds, cfg, collate_fn=default_collate, task="classification",
              num_outputs=2)  # fmt: skip
    assert res.stopped_early and res.reason.startswith("early stopping")
    assert len(res.history) == 3  # first sets the best, two more without improvement
