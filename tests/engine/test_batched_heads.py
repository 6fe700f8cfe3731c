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
