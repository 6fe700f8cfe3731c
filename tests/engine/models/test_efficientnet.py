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


def test_groups_run_one_by_one_as_extract_features_and_split_anywhere():
    m = build_model(ModelConfig(kind="efficientnet", image_size=32), num_outputs=2).model
    x = {"pixel_values": torch.rand(2, 3, 32, 32) * 2 - 1}
    pooled = torch.nn.functional.adaptive_avg_pool2d
    m.train()  # drop connect (stochastic depth) and BatchNorm in training mode: same draws
    torch.manual_seed(3)
    ours = m.forward_features(x)
    torch.manual_seed(3)
    ref = torch.flatten(pooled(m.backbone.extract_features(x["pixel_values"]), 1), 1)
    assert torch.equal(ours, ref)
    m.eval()
    with torch.no_grad():
        full = m.forward_features(x)
        for stop in range(1, len(m.layer_groups())):
            state = m.forward_prefix(x, stop)
            assert state["x"].shape[0] == 2 and state["x"].dim() == 4
            assert torch.allclose(m.forward_suffix(state, stop), full, atol=1e-5), stop


def test_last_k_with_prefix_cache_matches_uncached():
    from tunesmith.config.train import TrainConfig
    from tunesmith.engine.feature_cache import FeatureCache
    from tunesmith.engine.loop import fit

    g = torch.Generator().manual_seed(0)
    items = [{"pixel_values": torch.rand(3, 32, 32, generator=g) * 2 - 1, "labels": i % 2}
             for i in range(12)]  # fmt: skip
    built = lambda: build_model(ModelConfig(kind="efficientnet", image_size=32), num_outputs=2)  # noqa: E731
    cfg = TrainConfig(epochs=2, batch_size=4, freezing={"strategy": "last_k", "k": 2},
                      optimizer={"lr": 0.01})  # fmt: skip
    runs = []
    for cache in (None, FeatureCache()):
        torch.manual_seed(0)  # the same new head
        b = built()
        res = fit(b.model, items[:8], items[8:], cfg, collate_fn=b.collate_fn,
                  task="classification", num_outputs=2, seed=1, feature_cache=cache)  # fmt: skip
        runs.append(res)
    plain, cached = runs
    assert plain.cache_stop is None and cached.cache_stop == 9 - 2
    for a, c in zip(plain.history, cached.history, strict=True):
        assert a["train_loss"] == pytest.approx(c["train_loss"], rel=1e-4)
        assert a["log_loss"] == pytest.approx(c["log_loss"], rel=1e-4)
