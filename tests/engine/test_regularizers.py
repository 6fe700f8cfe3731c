"""L1, L2 and L2-SP penalties against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tunesmith.config.train import RegularizationConfig
from tunesmith.engine.models.base import BackboneWithHead, make_head
from tunesmith.engine.regularizers import L2SP, Regularizer, l1_penalty, l2_penalty


def val(t):
    return float(t.detach()) if torch.is_tensor(t) else float(t)


def tiny():
    torch.manual_seed(0)
    groups = [nn.Linear(3, 3)]
    return BackboneWithHead(nn.Sequential(*groups), groups, make_head(3, 2), lambda b, x: b(x["x"]))


def test_l1_l2_skip_biases_and_frozen():
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        lin.bias.fill_(10.0)
    assert val(l1_penalty(lin.parameters())) == pytest.approx(6.5)
    assert val(l2_penalty(lin.parameters())) == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))
    lin.weight.requires_grad_(False)
    assert val(l1_penalty(lin.parameters())) == 0.0


def test_l2sp_penalises_distance_to_pretrained_backbone_only():
    model = tiny()
    reg = L2SP(model)
    assert val(reg()) == 0.0
    with torch.no_grad():
        model.backbone[0].weight.add_(0.5)
        model.head[1].weight.add_(100.0)  # the head is not penalised
    assert val(reg()) == pytest.approx(0.5 * 9 * 0.25)
    model.backbone[0].weight.requires_grad_(False)
    assert val(reg()) == 0.0


def test_regularizer_sums_terms_and_has_gradient():
    model = tiny()
    cfg = RegularizationConfig(l1=0.1, l2=0.2, l2_sp=3.0)
    reg = Regularizer(model, cfg)
    assert reg.active and not Regularizer(model, RegularizationConfig()).active
    with torch.no_grad():
        model.backbone[0].weight.add_(1.0)
    expect = (
        0.1 * val(l1_penalty(model.parameters()))
        + 0.2 * val(l2_penalty(model.parameters()))
        + 3.0 * 0.5 * 9
    )
    pen = reg.penalty()
    assert val(pen) == pytest.approx(expect, rel=1e-5)
    pen.backward()
    assert model.backbone[0].weight.grad is not None
