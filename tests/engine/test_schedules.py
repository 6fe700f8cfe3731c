"""Schedules: LR values along a run against hand-computed numbers, and the LambdaLR adapter."""

from __future__ import annotations

import math

import pytest

from tunesmith.config.train import SCHEDULE_NAMES, ScheduleConfig
from tunesmith.engine.schedules import lambda_lr, lr_factor, warmup_steps


def test_constant_with_warmup():
    cfg = ScheduleConfig(name="constant", warmup_steps=4)
    got = [lr_factor(s, 10, cfg) for s in range(6)]
    assert got == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_step():
    cfg = ScheduleConfig(name="step", step_size=3, gamma=0.5)
    got = [lr_factor(s, 10, cfg) for s in range(8)]
    assert got == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_exponential_counts_steps_after_warmup():
    cfg = ScheduleConfig(name="exponential", decay_rate=0.1, warmup_steps=2)
    assert lr_factor(1, 10, cfg) == pytest.approx(1.0)
    assert lr_factor(2, 10, cfg) == pytest.approx(1.0)
    assert lr_factor(5, 10, cfg) == pytest.approx(math.exp(-0.3))


def test_cosine_to_lr_min():
    # base lr 0.1, lr_min 0.01 -> floor 0.1; warmup 2, total 10 -> T = 8
    cfg = ScheduleConfig(name="cosine", warmup_steps=2, lr_min=0.01)
    lrs = [0.1 * lr_factor(s, 10, cfg, base_lr=0.1) for s in range(11)]
    assert lrs[0] == pytest.approx(0.05)
    assert lrs[2] == pytest.approx(0.1)
    assert lrs[6] == pytest.approx(0.055)  # halfway: (0.1 + 0.01) / 2
    assert lrs[10] == pytest.approx(0.01)
    assert lrs[4] == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * 2 / 8)))


def test_linear_with_warmup_ratio():
    cfg = ScheduleConfig(name="linear", warmup_ratio=0.2)
    assert warmup_steps(10, cfg) == 2
    got = [lr_factor(s, 10, cfg) for s in range(2, 11)]
    assert got == pytest.approx([1 - t / 8 for t in range(9)])


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_contract_every_schedule(name):
    cfg = ScheduleConfig(name=name, warmup_steps=3, decay_rate=0.05, step_size=2)
    values = [lr_factor(s, 20, cfg, base_lr=1.0) for s in range(20)]
    assert all(0 <= v <= 1 for v in values)
    assert values[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert values[3] == pytest.approx(1.0)
    assert all(b <= a + 1e-12 for a, b in zip(values[3:], values[4:]))  # non-increasing


def test_lambda_lr_adapter_drives_torch():
    import torch

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 0.1}, {"params": [], "lr": 0.05}], lr=0.1)
    cfg = ScheduleConfig(name="linear", warmup_steps=2)
    sched = lambda_lr(opt, 6, cfg, base_lr=0.1)
    seen = []
    for _ in range(6):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    expect = [lr_factor(s, 6, cfg, 0.1) for s in range(6)]
    assert [s[0] for s in seen] == pytest.approx([0.1 * e for e in expect])
    assert [s[1] for s in seen] == pytest.approx([0.05 * e for e in expect])
