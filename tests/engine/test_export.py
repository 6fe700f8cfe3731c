"""Export: safetensors + JSON in an atomic, checksummed folder; load_model verifies and predicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.export import META, WEIGHTS, load_model
from tunesmith.engine.job import JobPlan, run_job
from tunesmith.utils.atomic import CorruptArtifactError

sys.path.insert(0, str(Path(__file__).parent / "models"))


def _tabular_job(tmp_path, out="model"):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    x = rng.normal(size=(90, 4)).astype(np.float32) + y[:, None] * 3.0
    names = np.array(["cat", "dog", "eel"])[y]
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=names)
    cfg = FinetuneConfig.model_validate(
        {
            "model": {
                "kind": "custom",
                "factory": "tiny_factories:make_net",
                "head": "fc",
                "groups": ["body", "block"],
            },
            "data": {"train": str(p)},
            "train": {"epochs": 4, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.02}},
        }
    )
    return run_job(cfg, JobPlan(export_dir=tmp_path / out)), x, names


def test_folder_layout_and_metadata(tmp_path):
    r, _, _ = _tabular_job(tmp_path)
    root = r.export_path
    names = sorted(p.name for p in root.iterdir())
    assert names == sorted(["MANIFEST.json", META, WEIGHTS])
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp folder left
    meta = json.loads((root / META).read_text())
    assert meta["labels"] == ["cat", "dog", "eel"] and meta["task"] == "classification"
    assert meta["metrics"]["validation"]["accuracy"] == pytest.approx(r.val_metrics["accuracy"])
    assert meta["hyperparameters"]["train"]["optimizer"]["lr"] == 0.02
    assert (root / WEIGHTS).read_bytes()[:1] != b"\x80"  # not a pickle
    from safetensors.torch import load_file

    weights = load_file(str(root / WEIGHTS))
    assert set(weights) == set(r.model.state_dict())


def test_round_trip_predicts_original_labels(tmp_path):
    import tunesmith

    r, x, names = _tabular_job(tmp_path)
    m = tunesmith.load_model(r.export_path)
    pred = m.predict(x[:30])
    assert set(pred) <= {"cat", "dog", "eel"}
    assert np.mean(np.array(pred) == names[:30]) >= 0.9
    proba = m.predict_proba(x[:5])
    assert proba.shape == (5, 3) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert m.labels == ["cat", "dog", "eel"]


def test_tampered_folder_is_refused(tmp_path):
    r, _, _ = _tabular_job(tmp_path)
    w = r.export_path / WEIGHTS
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="model.safetensors"):
        load_model(r.export_path)


def test_extra_file_is_refused(tmp_path):
    r, _, _ = _tabular_job(tmp_path)
    (r.export_path / "evil.pkl").write_bytes(b"x")
    with pytest.raises(CorruptArtifactError, match="evil.pkl"):
        load_model(r.export_path)


def test_re_export_replaces_atomically(tmp_path):
    r1, _, _ = _tabular_job(tmp_path)
    first = (r1.export_path / WEIGHTS).read_bytes()
    r2, _, _ = _tabular_job(tmp_path)
    assert r2.export_path == r1.export_path
    load_model(r2.export_path)  # still verifies
    assert len((r2.export_path / WEIGHTS).read_bytes()) == len(first)


def test_image_model_round_trip_from_arrays_and_files(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    x = np.zeros((40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 2
    x[y == 1] = 255
    x += rng.integers(0, 20, x.shape, dtype=np.uint8)
    p = tmp_path / "img.npz"
    np.savez(p, x=x, y=y)
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "efficientnet", "pretrained": False, "image_size": 16},
            "data": {"train": str(p)},
            "train": {"epochs": 1, "batch_size": 8, "freezing": {"strategy": "head"}},
        }
    )
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "m"))
    m = load_model(r.export_path)
    f = tmp_path / "one.png"
    Image.fromarray(x[1]).save(f)
    by_array = m.predict_proba([x[1]])
    by_file = m.predict_proba([str(f)])
    assert np.allclose(by_array, by_file, atol=1e-5)
    assert m.predict([x[0], x[1]])[0] in (0, 1)
    batch = r.built.collate_fn([{"pixel_values": torch.zeros(3, 16, 16)}])
    assert r.model.eval()(batch).shape == (1, 2)
