"""Batched head trials: K heads trained together give each head the result it gets alone."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tunesmith.engine.batched_heads import HeadConfig, train_heads  # noqa: E402

CONFIGS = [
    HeadConfig(lr=1e-2, weight_decay=0.0, dropout=0.0, seed=1),
    HeadConfig(lr=3e-2, weight_decay=0.1, dropout=0.2, seed=2),
    HeadConfig(lr=1e-3, weight_decay=0.01, dropout=0.1, loss="focal", seed=3),
    HeadConfig(lr=5e-2, weight_decay=0.0, dropout=0.3, label_smoothing=0.1, seed=4),
]


def _data(n: int = 240, d: int = 16, classes: int = 3):
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(classes, d, generator=gen, dtype=torch.float64) * 1.5
    y = torch.randint(0, classes, (n,), generator=gen)
    x = centers[y] + torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x[:180], y[:180], x[180:], y[180:]


def _run(configs, **kw):
    x, y, vx, vy = _data()
    kw.setdefault("epochs", 12)
    return train_heads(x, y, vx, vy, configs, batch_size=16, seed=7, **kw)


def _same(a, b) -> None:
    assert a.scores == b.scores
    assert a.best_epoch == b.best_epoch and a.reason == b.reason
    assert torch.allclose(a.weight, b.weight, rtol=0, atol=1e-12)
    assert torch.allclose(a.bias, b.bias, rtol=0, atol=1e-12)


def test_batched_equals_one_at_a_time() -> None:
    together = _run(CONFIGS)
    alone = [_run([cfg])[0] for cfg in CONFIGS]
    for a, b in zip(together, alone):
        _same(a, b)
    assert len({tuple(r.scores) for r in together}) > 1  # the heads really differ
    assert max(r.best_score for r in together) > 0.8  # and they learn the blobs


def test_each_head_stops_on_its_own_and_others_go_on() -> None:
    def prune_second_after_two(head: int, epoch: int, score: float) -> bool:
        return head == 1 and epoch >= 1

    together = _run(CONFIGS, patience=3, should_stop=prune_second_after_two)
    assert together[1].reason == "pruned" and len(together[1].scores) == 2
    others = [r for i, r in enumerate(together) if i != 1]
    assert all(len(r.scores) > 2 for r in others)
    alone = _run([CONFIGS[0]], patience=3)[0]
    _same(together[0], alone)
    for r in together:
        if r.reason == "early_stopped":
            assert len(r.scores) - 1 - r.best_epoch == 3


def test_bad_head_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="loss must be one of cross_entropy, focal, got 'mse'"):
        HeadConfig(lr=0.1, loss="mse")
    with pytest.raises(ValueError, match="lr must be > 0, got 0"):
        HeadConfig(lr=0)


def _schedule(name: str, **kw):
    from tunesmith.config.optimization import ScheduleConfig

    return ScheduleConfig(name=name, **kw)


SCHEDULED = [
    HeadConfig(lr=3e-2, weight_decay=0.01, seed=1, schedule=_schedule("linear", warmup_ratio=0.1)),
    HeadConfig(lr=1e-2, dropout=0.2, seed=2, schedule=_schedule("cosine", lr_min=1e-4)),
    HeadConfig(lr=5e-2, seed=3, schedule=_schedule("constant", warmup_steps=20)),
    HeadConfig(lr=2e-2, weight_decay=0.1, seed=4, schedule=None),
]


def test_scheduled_heads_batched_equal_one_at_a_time() -> None:
    together = _run(SCHEDULED)
    alone = [_run([cfg])[0] for cfg in SCHEDULED]
    for a, b in zip(together, alone):
        _same(a, b)


def test_each_heads_schedule_matches_torch_adamw_with_the_loops_lambda_lr() -> None:
    """One head (no dropout) against nn.Linear + torch AdamW + the regular loop's LambdaLR."""
    import math

    from tunesmith.engine.batched_heads import _init
    from tunesmith.engine.schedules import lambda_lr

    x, y, vx, vy = _data()
    for cfg in SCHEDULED:
        (got,) = train_heads(x, y, vx, vy, [cfg], epochs=4, batch_size=16, seed=7)
        w0, b0 = _init([cfg], 3, x.shape[1], torch.float64)
        lin = torch.nn.Linear(x.shape[1], 3, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(w0[0])
            lin.bias.copy_(b0[0])
        opt = torch.optim.AdamW(
            [
                {"params": [lin.weight], "weight_decay": cfg.weight_decay},
                {"params": [lin.bias], "weight_decay": 0.0},
            ],
            lr=cfg.lr,
        )
        total = 4 * math.ceil(len(y) / 16)
        sched = lambda_lr(opt, total, cfg.schedule or _schedule("constant"), cfg.lr)
        order_gen = torch.Generator().manual_seed(7)
        drop_gen = torch.Generator().manual_seed(cfg.seed + 1)
        best, best_w = -1.0, None
        for _ in range(4):
            order = torch.randperm(len(y), generator=order_gen)
            for start in range(0, len(y), 16):
                idx = order[start : start + 16]
                mask = torch.rand(x[idx].shape, generator=drop_gen, dtype=torch.float64)
                keep = 1 - cfg.dropout
                xs = torch.where(mask < keep, x[idx] / keep, torch.zeros((), dtype=torch.float64))
                loss = torch.nn.functional.cross_entropy(lin(xs), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            with torch.no_grad():
                acc = float((lin(vx).argmax(-1) == vy).double().mean())
            if acc > best:
                best, best_w = acc, lin.weight.detach().clone()
        assert got.best_score == best
        assert torch.allclose(got.weight, best_w, rtol=0, atol=1e-9)


def test_keep_last_keeps_each_heads_last_epoch() -> None:
    x, y, vx, vy = _data()
    results = train_heads(x, y, vx, vy, CONFIGS, epochs=5, batch_size=16, seed=7, keep_last=True)
    for res in results:
        assert res.best_epoch == 4 and res.best_score == res.scores[-1]
        acc = float(((vx @ res.weight.T + res.bias).argmax(-1) == vy).double().mean())
        assert acc == res.scores[-1]  # the weights are the last epoch's
