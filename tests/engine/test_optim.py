"""Parameter groups (depths, layer decay, no decay on 1-D params) and every optimizer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tunesmith.config.train import OPTIMIZER_NAMES, OptimizerConfig
from tunesmith.engine.models.base import BackboneWithHead, make_head
from tunesmith.engine.optim import build_optimizer, param_groups, parameter_depths


def tiny(n_groups=3):
    torch.manual_seed(0)
    groups = [nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)) for _ in range(n_groups)]
    backbone = nn.Sequential(*groups)
    return BackboneWithHead(backbone, groups, make_head(4, 2), lambda b, batch: b(batch["x"]))


def test_depths_and_layer_decay():
    model = tiny(3)
    depths = parameter_depths(model)
    assert {depths[id(p)] for p in model.head.parameters()} == {0}
    assert {depths[id(p)] for p in model.layer_groups()[2].parameters()} == {1}
    assert {depths[id(p)] for p in model.layer_groups()[0].parameters()} == {3}
    groups = param_groups(model, OptimizerConfig(lr=0.1, layer_decay=0.5, weight_decay=0.01))
    for g in groups:
        assert g["lr"] == pytest.approx(0.1 * 0.5 ** g["depth"])
        assert all((p.ndim >= 2) == g["decay"] for p in g["params"])
        assert g["weight_decay"] == (0.01 if g["decay"] else 0.0)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    ln = model.layer_groups()[1][1]
    no_decay = {id(p) for g in groups if not g["decay"] for p in g["params"]}
    assert id(ln.weight) in no_decay and id(model.head[1].bias) in no_decay
    assert id(model.head[1].weight) not in no_decay


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_contract_every_optimizer_steps_only_trainable(name):
    model = tiny(2)
    for p in model.layer_groups()[0].parameters():
        p.requires_grad_(False)
    frozen = [p.detach().clone() for p in model.layer_groups()[0].parameters()]
    cfg = OptimizerConfig(name=name, lr=0.01, weight_decay=0.1)
    opt = build_optimizer(model, cfg)
    x = torch.randn(16, 4)
    y = torch.randint(0, 2, (16,))
    losses = []
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model({"x": x}), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for before, p in zip(frozen, model.layer_groups()[0].parameters()):
        assert torch.equal(before, p)


def _one_step(name):
    w = nn.Parameter(torch.tensor([[2.0, -3.0]]))
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    holder = nn.Module()
    holder.w = w
    cfg = OptimizerConfig(name=name, lr=0.1, weight_decay=0.5)
    from tunesmith.engine.optim import OPTIMIZERS

    o = OPTIMIZERS[name]([{"params": [w], "lr": 0.1, "weight_decay": 0.5}], cfg)
    assert isinstance(o, opt[name])
    w.grad = torch.zeros_like(w)
    o.step()
    return w.detach()


def test_weight_decay_decoupled_for_adamw_coupled_for_adam():
    # AdamW with a zero gradient only shrinks: w * (1 - lr * wd)
    assert torch.allclose(_one_step("adamw"), torch.tensor([[2.0, -3.0]]) * (1 - 0.1 * 0.5))
    # Adam adds wd * w to the gradient, then normalises: a step of ~lr towards zero
    assert torch.allclose(_one_step("adam"), torch.tensor([[1.9, -2.9]]), atol=1e-5)
