"""Feature cache: same results with and without it, one backbone pass per dataset, LRU and disk."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from tunesmith.config.train import TrainConfig
from tunesmith.engine.feature_cache import FeatureCache, cache_key, weights_hash
from tunesmith.engine.loop import fit
from tunesmith.engine.models.base import BackboneWithHead, make_head
from tunesmith.engine.seeding import seed_everything


class Counting(BackboneWithHead):
    calls = 0

    def forward_features(self, batch):
        self.calls += 1
        return super().forward_features(batch)


def tiny():
    torch.manual_seed(0)
    groups = [
        nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU()),
        nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.ReLU()),
    ]
    return Counting(nn.Sequential(*groups), groups, make_head(8, 3, 0.2), lambda b, x: b(x["x"]))


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.bucketize(x[:, 0].contiguous(), torch.tensor([-0.4, 0.4]))
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


CFG = TrainConfig(epochs=4, batch_size=16, freezing={"strategy": "head"}, optimizer={"lr": 0.05})
TRAIN, VAL = data(40, 1), data(24, 2)


def _fit(model, cache=None, cfg=CFG, extra="data-v1"):
    seed_everything(7)  # fit leaves seeding to its caller, as run_job seeds each fold
    return fit(model, TRAIN, VAL, cfg, collate_fn=default_collate, task="classification",
               num_outputs=3, seed=7, feature_cache=cache, cache_key_extra=extra)  # fmt: skip


def test_identical_results_and_one_backbone_pass_per_dataset():
    plain_model, cached_model = tiny(), tiny()
    plain = _fit(plain_model)
    cache = FeatureCache()
    cached = _fit(cached_model, cache)
    assert not plain.used_feature_cache and cached.used_feature_cache
    for a, b in zip(plain.history, cached.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["log_loss"] == pytest.approx(b["log_loss"], rel=1e-5)
        assert a["accuracy"] == b["accuracy"]
    for k in plain.state_dict:
        assert torch.allclose(plain.state_dict[k], cached.state_dict[k], atol=1e-6), k
    # 3 + 2 batches, once, against 4 epochs x (3 + 2) without the cache
    assert cached_model.calls == 5 and plain_model.calls == 4 * 5
    # the next trial in the same process reuses both entries: no backbone pass at all
    again = tiny()
    _fit(again, cache)
    assert again.calls == 0 and cache.hits == 2 and len(cache) == 2


def test_key_changes_with_weights_data_and_strategy():
    model = tiny()
    cache = FeatureCache()
    _fit(model, cache)
    _fit(tiny(), cache, extra="data-v2")  # other data fingerprint: a miss
    assert cache.misses == 4
    changed = tiny()
    with torch.no_grad():
        changed.layer_groups()[0][0].weight.add_(1.0)
    assert weights_hash(changed) != weights_hash(tiny())
    assert weights_hash(changed) == weights_hash(changed)
    assert cache_key(changed, "train", 40, "x") != cache_key(tiny(), "train", 40, "x")
    with torch.no_grad():
        changed.head[1].weight.add_(1.0)  # head weights are not part of the key
    assert weights_hash(changed) == weights_hash(changed)
    full = CFG.model_copy(update={"freezing": CFG.freezing.model_copy(update={"strategy": "full"})})
    assert not _fit(tiny(), cache, cfg=full).used_feature_cache


def _entry(n):
    return {"features": torch.zeros(n, 4), "labels": torch.zeros(n, dtype=torch.long)}


def test_lru_bound_and_disk(tmp_path):
    size = 10 * 4 * 4 + 10 * 8  # 10 rows: float32 [10, 4] + int64 [10]
    cache = FeatureCache(max_bytes=2 * size)
    cache.put("a", _entry(10))
    cache.put("b", _entry(10))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", _entry(10))
    assert cache.get("b") is None and cache.get("a") is not None and cache.bytes == 2 * size
    cache.put("huge", _entry(100))
    assert cache.get("huge") is None and len(cache) == 2
    disk = FeatureCache(max_bytes=2 * size, directory=tmp_path)
    disk.put("k", {"features": torch.arange(8.0).reshape(2, 4), "labels": torch.tensor([0, 1])})
    fresh = FeatureCache(directory=tmp_path)
    got = fresh.get("k")
    assert got is not None and torch.equal(got["features"], torch.arange(8.0).reshape(2, 4))
    assert (tmp_path / "k.safetensors").is_file()


def test_build_seconds_count_a_miss_until_its_put_not_a_hit(tmp_path) -> None:
    import time

    cache = FeatureCache(directory=tmp_path)
    assert cache.get("k") is None
    time.sleep(0.05)
    cache.put("k", {"x": torch.zeros(2, 3)})
    built = cache.build_seconds
    assert built >= 0.05
    assert cache.get("k") is not None  # a hit costs nothing
    cache.put("k", {"x": torch.zeros(2, 3)})  # nor does a put without a miss before it
    assert cache.build_seconds == built
