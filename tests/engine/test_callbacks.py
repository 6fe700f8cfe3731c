"""Callbacks: early stopping, the report hook that carries pruning decisions, and the loop's own
duties (best weights, metrics log, divergence) as callbacks."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import default_collate

from tunesmith.config.train import TrainConfig
from tunesmith.engine.callbacks import (
    BaseCallback,
    BestWeights,
    Callback,
    CallbackList,
    Decision,
    DivergenceCheck,
    EarlyStopping,
    LossCallback,
    MetricsLog,
    ReportCallback,
    TrainState,
)
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


def _evaluated(state, score, epoch, **extra):
    state.epoch, state.score = epoch, score
    state.metrics = {"m": score}
    state.history.append({"epoch": epoch, "m": score, **extra})
    return state


def test_best_weights_keeps_the_best_evaluation_on_the_cpu():
    model, _ = _setup()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    best = BestWeights(model)
    assert best.epoch is None and best.score is None and best.metrics == {}
    assert all(torch.equal(best.state_dict[k], v) for k, v in initial.items())
    state = TrainState(metric="m", greater_is_better=False)
    assert not best.on_evaluate(_evaluated(state, 0.5, 0)).stop
    with torch.no_grad():
        model.head[-1].weight.add_(1.0)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    best.on_evaluate(_evaluated(state, 0.4, 1))  # lower is better: kept
    with torch.no_grad():
        model.head[-1].weight.add_(1.0)
    best.on_evaluate(_evaluated(state, 0.45, 2))  # worse: the epoch-1 copy stays
    best.on_evaluate(_evaluated(state, float("nan"), 3))  # NaN never improves
    assert (best.epoch, best.score, best.metrics) == (1, 0.4, {"m": 0.4})
    assert all(torch.equal(best.state_dict[k], v) for k, v in snapshot.items())
    assert all(v.device.type == "cpu" for v in best.state_dict.values())
    best.take(state)  # keep_last: the current weights whatever their score
    assert best.epoch == 3 and torch.equal(best.state_dict["head.1.weight"], model.head[-1].weight)


def test_metrics_log_appends_each_record_with_non_finite_as_null(tmp_path):
    import json

    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    state = TrainState(metric="m", greater_is_better=True)
    log.on_evaluate(_evaluated(state, 0.5, 0, train_loss=float("nan")))
    assert not log.on_evaluate(_evaluated(state, 0.7, 1, train_loss=0.25)).stop
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {"epoch": 0, "m": 0.5, "train_loss": None},
        {"epoch": 1, "m": 0.7, "train_loss": 0.25},
    ]


def test_divergence_check_stops_on_a_non_finite_loss_only():
    check = DivergenceCheck()
    assert isinstance(check, LossCallback)
    state = TrainState(metric="m", greater_is_better=True, step=7)
    for loss in (None, 0.3, 1e30):
        state.loss = loss
        assert not check.on_train_loss(state).stop
    for loss in (float("nan"), float("inf"), float("-inf")):
        state.loss = loss
        decision = check.on_train_loss(state)
        assert decision.stop and decision.reason == "diverged: non-finite training loss at step 7"


def test_callback_list_first_stop_wins_and_later_ones_are_not_asked():
    asked = []

    class Says(BaseCallback):
        def __init__(self, name, stop):
            self.name, self.stop = name, stop

        def on_evaluate(self, state):
            asked.append(self.name)
            return Decision(self.stop, self.name)

    hooks = CallbackList([Says("a", False), Says("b", True), Says("c", True), DivergenceCheck()])
    state = TrainState(metric="m", greater_is_better=True)
    assert hooks.on_evaluate(state) == Decision(True, "b") and asked == ["a", "b"]
    assert hooks.loss_callbacks == [hooks.callbacks[-1]]  # only it judges training losses
    state.loss = float("nan")
    assert hooks.on_train_loss(state).stop
