"""Ensemble folders: members copied in, one manifest, predictions averaged on load."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.ensemble import EnsembleModel, average
from tunesmith.engine.export import export_ensemble, load_model
from tunesmith.engine.job import JobPlan, run_job
from tunesmith.errors import TunesmithError
from tunesmith.utils.atomic import CorruptArtifactError

sys.path.insert(0, str(Path(__file__).parent / "models"))


def _blobs(path, n=90, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.where(y[:, None] == 1, 1.0, -1.0)
    np.savez(path, x=x, y=np.array([("a", "b")[i] for i in y]))
    return path


def _export(tmp_path, seed, data, name):
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "custom", "factory": "tiny_factories:make_net", "head": "fc",
                      "groups": ["body", "block"], "dropout": 0.0},
            "data": {"train": str(data)},
            "train": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}},
            "seed": seed,
        }
    )  # fmt: skip
    return run_job(cfg, JobPlan(export_dir=tmp_path / name)).export_path


def test_ensemble_folder_loads_as_one_model_that_averages_its_members(tmp_path):
    data = _blobs(tmp_path / "d.npz")
    members = [_export(tmp_path, seed, data, f"m{seed}") for seed in (0, 1, 2)]
    path = export_ensemble(tmp_path / "ens", members, {"test": {"accuracy": 0.5}})
    meta = json.loads((path / "tunesmith_model.json").read_text())
    assert meta["kind"] == "ensemble" and meta["members"] == [
        "members/00",
        "members/01",
        "members/02",
    ]

    ens = load_model(path)
    assert isinstance(ens, EnsembleModel) and ens.labels == ["a", "b"]
    x = np.random.default_rng(5).normal(size=(7, 4)).astype(np.float32)
    single = [load_model(m).predict_proba(x) for m in members]
    assert not np.allclose(single[0], single[1])  # different seeds: different members
    np.testing.assert_allclose(ens.predict_proba(x), np.mean(single, axis=0), rtol=1e-6)
    assert ens.predict(x) == ens.label_map.decode(np.mean(single, axis=0).argmax(axis=1))

    (path / "members" / "01" / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(CorruptArtifactError):
        load_model(path)


def test_ensemble_needs_two_members_with_the_same_labels(tmp_path):
    data = _blobs(tmp_path / "d.npz")
    one = _export(tmp_path, 0, data, "m0")
    with pytest.raises(TunesmithError, match="at least 2 members"):
        export_ensemble(tmp_path / "e1", [one])
    other = _blobs(tmp_path / "o.npz")
    other_data = np.load(other)
    np.savez(other, x=other_data["x"], y=np.where(other_data["y"] == "a", "c", "d"))
    two = _export(tmp_path, 1, other, "m1")
    with pytest.raises(TunesmithError, match="task or labels differ"):
        export_ensemble(tmp_path / "e2", [one, two])
    assert not (tmp_path / "e2").exists()
    assert average([np.array([1.0, 3.0]), np.array([3.0, 5.0])]).tolist() == [2.0, 4.0]
