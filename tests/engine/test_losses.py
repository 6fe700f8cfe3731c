"""Losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from tunesmith.config.train import LOSS_NAMES, LossConfig
from tunesmith.engine.losses import balanced_weights, build_loss
from tunesmith.errors import ConfigError, DataError

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
LABELS = torch.tensor([0, 1, 1])


def _p(logits, row, cls):
    e = [math.exp(v) for v in logits[row]]
    return e[cls] / sum(e)


L = LOGITS.tolist()
P_TRUE = [_p(L, 0, 0), _p(L, 1, 1), _p(L, 2, 1)]


def test_cross_entropy_plain_and_smoothed():
    ce = build_loss(LossConfig(), 2)(LOGITS, LABELS).item()
    assert ce == pytest.approx(-sum(math.log(p) for p in P_TRUE) / 3)
    eps = 0.2
    sm = build_loss(LossConfig(label_smoothing=eps), 2)(LOGITS, LABELS).item()
    # target = (1 - eps) * onehot + eps / C
    expect = 0.0
    for i, y in enumerate(LABELS.tolist()):
        for c in range(2):
            t = (1 - eps) * (c == y) + eps / 2
            expect -= t * math.log(_p(L, i, c))
    assert sm == pytest.approx(expect / 3)


def test_class_weights_list_and_balanced():
    w = [1.0, 3.0]
    got = build_loss(LossConfig(class_weights=w), 2)(LOGITS, LABELS).item()
    nll = [-math.log(p) for p in P_TRUE]
    ws = [w[y] for y in LABELS.tolist()]
    assert got == pytest.approx(sum(a * b for a, b in zip(ws, nll)) / sum(ws))
    assert balanced_weights([1, 2]) == pytest.approx([1.5, 0.75])
    bal = build_loss(LossConfig(class_weights="balanced"), 2, class_counts=[1, 2])
    ws = [1.5, 0.75, 0.75]
    assert bal(LOGITS, LABELS).item() == pytest.approx(
        sum(a * b for a, b in zip(ws, nll)) / sum(ws)
    )
    with pytest.raises(DataError):
        build_loss(LossConfig(class_weights="balanced"), 2)
    with pytest.raises(ConfigError, match="one weight per class"):
        build_loss(LossConfig(class_weights=[1.0, 2.0, 3.0]), 2)


def test_focal_gamma_alpha():
    g = 2.0
    got = build_loss(LossConfig(name="focal", gamma=g), 2)(LOGITS, LABELS).item()
    expect = sum(-((1 - p) ** g) * math.log(p) for p in P_TRUE) / 3
    assert got == pytest.approx(expect, rel=1e-5)
    # gamma 0 == cross entropy
    f0 = build_loss(LossConfig(name="focal", gamma=0.0), 2)(LOGITS, LABELS).item()
    assert f0 == pytest.approx(build_loss(LossConfig(), 2)(LOGITS, LABELS).item(), rel=1e-6)
    a = 0.25  # binary: class 1 weighted alpha, class 0 weighted 1 - alpha
    fa = build_loss(LossConfig(name="focal", gamma=g, alpha=a), 2)(LOGITS, LABELS).item()
    al = [1 - a, a, a]
    expect = sum(-w * ((1 - p) ** g) * math.log(p) for w, p in zip(al, P_TRUE)) / 3
    assert fa == pytest.approx(expect, rel=1e-5)
    fl = build_loss(LossConfig(name="focal", gamma=g, alpha=[0.75, 0.25]), 2)(LOGITS, LABELS)
    assert fl.item() == pytest.approx(expect, rel=1e-5)
    with pytest.raises(ConfigError, match="binary"):
        build_loss(LossConfig(name="focal", alpha=0.3), 3)


def test_regression_losses():
    out = torch.tensor([[1.0], [2.0], [5.0]])
    y = torch.tensor([1.5, 2.0, 2.0])
    d = [-0.5, 0.0, 3.0]
    assert build_loss(LossConfig(name="mse"), 1)(out, y).item() == pytest.approx(
        sum(v * v for v in d) / 3
    )
    assert build_loss(LossConfig(name="mae"), 1)(out, y).item() == pytest.approx(3.5 / 3)
    hub = build_loss(LossConfig(name="huber", delta=1.0), 1)(out, y[:, None]).item()
    assert hub == pytest.approx((0.5 * 0.25 + 0 + (3.0 - 0.5)) / 3)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_contract_every_loss_is_differentiable_scalar(name):
    torch.manual_seed(0)
    cls = name in ("cross_entropy", "focal")
    out = torch.randn(6, 3 if cls else 1, requires_grad=True)
    y = torch.randint(0, 3, (6,)) if cls else torch.randn(6)
    loss = build_loss(LossConfig(name=name), 3 if cls else 1)(out, y)
    assert loss.ndim == 0 and loss.item() >= 0
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
