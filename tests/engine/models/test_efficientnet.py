"""EfficientNet-Lite0 adapter: strict load of the packaged ImageNet weights, stage groups, head."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config.model import ModelConfig
from tunesmith.engine.models.efficientnet import packaged_weights
from tunesmith.engine.models.registry import build_model
from tunesmith.errors import ConfigError

pytest.importorskip("efficientnet_lite_pytorch")


def test_weights_groups_and_features():
    built = build_model(ModelConfig(kind="efficientnet", image_size=32), num_outputs=4)
    m = built.model
    state = torch.load(packaged_weights(), map_location="cpu", weights_only=True)
    assert torch.equal(m.backbone._conv_stem.weight, state["_conv_stem.weight"])
    groups = m.layer_groups()
    assert len(groups) == 9  # stem, 7 stages, head conv
    in_groups = {id(p) for g in groups for p in g.parameters()}
    backbone = [p for p in m.backbone.parameters()]
    assert all(id(p) in in_groups for p in backbone)  # every backbone weight is in a group
    assert m.head[1].in_features == 1280 and m.head[1].out_features == 4
    m.eval()
    x = {"pixel_values": torch.rand(2, 3, 32, 32) * 2 - 1}
    assert m.forward_features(x).shape == (2, 1280)
    assert m(x).shape == (2, 4)
    assert built.modality == "image"


def test_bad_name_and_weights(tmp_path):
    with pytest.raises(ConfigError, match="efficientnet-lite0"):
        build_model(ModelConfig(kind="efficientnet", name="efficientnet-b7"), num_outputs=2)
    bad = tmp_path / "w.pth"
    torch.save({"nope": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="model.weights"):
        build_model(ModelConfig(kind="efficientnet", weights=str(bad)), num_outputs=2)
