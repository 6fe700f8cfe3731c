"""fit / evaluate / predict on tiny models and data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from tunesmith.config.train import TrainConfig
from tunesmith.engine.callbacks import MetricsLog
from tunesmith.engine.loop import evaluate, fit, predict
from tunesmith.engine.metrics import compute_metrics
from tunesmith.engine.seeding import seed_everything
from tunesmith.errors import ConfigError


def tiny(out=2, dropout=0.0, seed=0):
    from tunesmith.engine.models.base import BackboneWithHead, make_head

    torch.manual_seed(seed)
    groups = [nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU()), nn.Linear(8, 8)]
    return BackboneWithHead(
        nn.Sequential(*groups), groups, make_head(8, out, dropout), lambda b, x: b(x["x"])
    )


def data(n=64, task="classification", seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    if task == "classification":
        y = (x[:, 0] - x[:, 1] > 0).long()
    else:
        y = 2 * x[:, 0] - x[:, 2] + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


def run(model, cfg, train=None, val=None, **kw):
    train = train or data()
    val = val or data(32, seed=2)
    kw.setdefault("task", "classification")
    kw.setdefault("num_outputs", 2)
    return fit(model, train, val, cfg, collate_fn=default_collate, **kw)


def test_fit_learns_and_restores_best_weights(tmp_path):
    model = tiny()
    path = tmp_path / "metrics.jsonl"
    cfg = TrainConfig(epochs=6, batch_size=16, optimizer={"lr": 0.02})
    res = run(model, cfg, callbacks=[MetricsLog(path)])
    assert res.best_score > 0.85 and res.reason == "completed" and not res.stopped_early
    scores = [h["accuracy"] for h in res.history]
    assert res.best_score == max(scores) and res.best_epoch == scores.index(max(scores))
    val = data(32, seed=2)
    again = evaluate(model, val, collate_fn=default_collate, task="classification", batch_size=8)
    assert again["accuracy"] == pytest.approx(res.best_metrics["accuracy"])
    assert again["log_loss"] == pytest.approx(res.best_metrics["log_loss"], rel=1e-5)
    for k, v in model.state_dict().items():
        assert torch.equal(res.state_dict[k], v.cpu()) and res.state_dict[k].device.type == "cpu"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 6 and [r["epoch"] for r in lines] == list(range(6))
    assert {"accuracy", "f1_macro", "train_loss", "lr", "step"} <= set(lines[0])
    assert lines[-1]["step"] == 6 * 4


def test_keep_last_keeps_the_last_epoch_even_when_an_earlier_one_scored_better():
    flipped = [{"x": r["x"], "labels": 1 - r["labels"]} for r in data(32, seed=2)]
    cfg = TrainConfig(epochs=5, batch_size=16, optimizer={"lr": 0.05})
    best = run(tiny(), cfg, val=flipped)
    scores = [h["accuracy"] for h in best.history]
    assert scores.index(max(scores)) != len(scores) - 1  # learning makes flipped labels worse
    model = tiny()
    last = run(model, cfg, val=flipped, keep_last=True)
    assert last.best_epoch == 4 and last.best_metrics["accuracy"] == scores[-1]
    task = "classification"
    again = evaluate(model, flipped, collate_fn=default_collate, task=task, batch_size=8)
    assert again["accuracy"] == pytest.approx(scores[-1])


def test_same_seed_same_history_other_seed_differs():
    cfg = TrainConfig(epochs=2, batch_size=16, optimizer={"lr": 0.01})
    runs = []
    for seed in (3, 3, 4):
        model = tiny(dropout=0.3)
        seed_everything(seed)
        runs.append([h["train_loss"] for h in run(model, cfg, seed=seed).history])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_fit_never_seeds_the_global_rngs():
    """Dropout draws from the caller's global RNG state; ``seed`` only shuffles the batches."""
    cfg = TrainConfig(epochs=2, batch_size=16, optimizer={"lr": 0.01})
    losses = []
    for global_seed in (1, 1, 2):
        model = tiny(dropout=0.3)
        torch.manual_seed(global_seed)
        losses.append([h["train_loss"] for h in run(model, cfg, seed=3).history])
    assert losses[0] == losses[1] and losses[0] != losses[2]
    model = tiny()  # no dropout: training draws nothing from the global RNG
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    run(model, TrainConfig(epochs=1, batch_size=16), seed=9)
    assert torch.equal(torch.rand(1), expected)


def test_grad_accumulation_matches_bigger_batch():
    base = {"epochs": 2, "optimizer": {"name": "sgd", "lr": 0.1}}
    a = run(tiny(), TrainConfig(batch_size=16, **base))
    b = run(tiny(), TrainConfig(batch_size=8, grad_accum_steps=2, **base))
    for k in a.state_dict:
        assert torch.allclose(a.state_dict[k], b.state_dict[k], atol=1e-5), k
    assert a.history[-1]["step"] == b.history[-1]["step"] == 8


def test_eval_every_steps_and_final_eval():
    cfg = TrainConfig(epochs=2, batch_size=16, eval_every_steps=3)
    res = run(tiny(), cfg)  # 4 steps per epoch, 8 in all
    assert [h["step"] for h in res.history] == [3, 6, 8]


def test_gradient_clipping_bounds_the_update():
    model = tiny()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    cfg = TrainConfig(
        epochs=1, batch_size=64, max_grad_norm=1e-3, optimizer={"name": "sgd", "lr": 1.0}
    )
    run(model, cfg)  # one step of SGD: ||delta|| = lr * ||clipped grad|| <= 1e-3
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < (after - before).norm().item() <= 1e-3 + 1e-6


def test_divergence_stops_with_reason():
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer={"name": "sgd", "lr": 1e30})
    res = run(tiny(), cfg)
    assert res.stopped_early and res.reason.startswith("diverged")


def test_regression_task_and_balanced_weights():
    reg_cfg = TrainConfig(epochs=5, batch_size=16, loss={"name": "huber"}, metric="r2",
                          optimizer={"lr": 0.03})  # fmt: skip
    res = run(tiny(out=1), reg_cfg, data(96, "regression"), data(32, "regression", 2),
              task="regression", num_outputs=1)  # fmt: skip
    assert res.best_score > 0.5 and "mse" in res.best_metrics
    cls_cfg = TrainConfig(epochs=1, batch_size=16, loss={"class_weights": "balanced"})
    assert math.isfinite(run(tiny(), cls_cfg).best_score)
    with pytest.raises(ConfigError, match="does not apply"):
        run(tiny(), TrainConfig(loss={"name": "mse"}))


def test_predict_probabilities_match_evaluate():
    model = tiny(out=3)
    ds = data(20)
    probs = predict(model, ds, collate_fn=default_collate, task="classification", batch_size=7)
    assert probs.shape == (20, 3) and np.allclose(probs.sum(1), 1.0)
    metrics = evaluate(model, ds, collate_fn=default_collate, task="classification", batch_size=5)
    y = np.array([int(d["labels"]) for d in ds])
    assert metrics == pytest.approx(compute_metrics(y, probs, "classification"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_gpu(precision):
    cfg = TrainConfig(epochs=4, batch_size=16, precision=precision, device="cuda",
                      optimizer={"lr": 0.02}, max_grad_norm=1.0)  # fmt: skip
    res = run(tiny(), cfg)
    assert res.best_score > 0.8 and all(v.device.type == "cpu" for v in res.state_dict.values())


def test_reduced_precision_falls_back_to_fp32_on_cpu():
    cfg = TrainConfig(epochs=1, batch_size=16, precision="fp16", device="cpu")
    a = run(tiny(), cfg)
    b = run(tiny(), cfg.model_copy(update={"precision": "fp32"}))
    assert a.history == b.history


def test_schedule_is_stepped_per_optimizer_step():
    from tunesmith.engine.schedules import lr_factor

    cfg = TrainConfig(epochs=3, batch_size=16, grad_accum_steps=2,
                      schedule={"name": "cosine", "warmup_steps": 1, "lr_min": 1e-4},
                      optimizer={"lr": 1e-2, "layer_decay": 0.5})  # fmt: skip
    res = run(tiny(), cfg)  # 4 batches / 2 = 2 optimizer steps per epoch, 6 in all
    assert [h["step"] for h in res.history] == [2, 4, 6]
    for h in res.history:  # param_groups[0] is the head (depth 0): the LR for the next step
        assert h["lr"] == pytest.approx(1e-2 * lr_factor(h["step"], 6, cfg.schedule, 1e-2))


@pytest.mark.parametrize(
    "schedule",
    [{"name": "cosine", "lr_min": 1e-4}, {"name": "linear", "warmup_ratio": 0.25}],
)
def test_a_run_with_a_horizon_is_the_start_of_the_longer_run(schedule):
    """2 epochs over a 4-epoch horizon: the same per-epoch records as the first 2 of 4 epochs."""
    records = []
    for epochs, horizon in ((4, None), (2, 4), (2, None)):
        cfg = TrainConfig(epochs=epochs, batch_size=16, optimizer={"lr": 0.02},
                          schedule={**schedule, "horizon_epochs": horizon})  # fmt: skip
        seed_everything(5)
        records.append(run(tiny(dropout=0.2), cfg, seed=5).history)
    longer, prefix, own = records
    assert len(prefix) == 2 and prefix == longer[:2]  # every metric, loss and LR, exactly
    assert own[1]["lr"] != longer[1]["lr"]  # without the horizon the schedule is its own
