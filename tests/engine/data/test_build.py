"""build_data: splits, label map, lazy test split, folds, fingerprints and label validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunesmith.config.data import DataConfig
from tunesmith.engine.data.build import build_data
from tunesmith.engine.data.datasets import TextCollator, stack_collate
from tunesmith.errors import ConfigError, DataError


def _csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return path


def _rows(n=40):
    return [(f"text {i}", "pos" if i % 3 else "neg") for i in range(n)]


def test_auto_split_label_map_and_counts(tmp_path):
    p = _csv(tmp_path / "d.csv", _rows(40))
    b = build_data(DataConfig(train=str(p), split={"validation": 0.2, "test": 0.2, "seed": 0}))
    assert b.label_map.labels == ("neg", "pos")
    assert b.num_outputs == 2 and b.task == "classification" and b.modality == "text"
    assert len(b.train) + len(b.validation) + len(b.test()) == 40
    assert len(b.test()) == 8
    assert sum(b.class_counts) == len(b.train)
    item = b.train[0]
    assert set(item) == {"text", "labels"} and isinstance(item["labels"], int)


def test_test_file_is_only_read_on_demand(tmp_path):
    train = _csv(tmp_path / "train.csv", _rows(30))
    test = tmp_path / "test.csv"
    seen = []
    cfg = DataConfig(train=str(train), test=str(test))
    b = build_data(cfg, access_hook=seen.append)
    assert seen == ["train"] and b.has_test  # the test file does not even exist yet
    _csv(test, [("x", "pos"), ("y", "neg")])
    assert len(b.test()) == 2
    assert seen == ["train", "test"]
    b.test()
    assert seen == ["train", "test"]


def test_carved_test_split_reports_access(tmp_path):
    p = _csv(tmp_path / "d.csv", _rows(30))
    seen = []
    b = build_data(DataConfig(train=str(p)), access_hook=seen.append)
    assert "test" not in seen
    b.test()
    assert seen[-1] == "test"
    none = build_data(DataConfig(train=str(p), split={"test": 0}))
    assert not none.has_test and none.test() is None


def test_unseen_validation_label_names_label_and_row(tmp_path):
    train = _csv(tmp_path / "train.csv", _rows(10))
    val = _csv(tmp_path / "val.csv", [("a", "pos"), ("b", "meh")])
    with pytest.raises(DataError) as info:
        build_data(DataConfig(train=str(train), validation=str(val)))
    msg = str(info.value)
    assert str(val) in msg and "row 2" in msg and "'meh'" in msg


def test_unseen_test_label_raises_when_test_is_read(tmp_path):
    train = _csv(tmp_path / "train.csv", _rows(10))
    test = _csv(tmp_path / "test.csv", [("a", "pos"), ("b", "neg"), ("c", "ugh")])
    b = build_data(DataConfig(train=str(train), test=str(test)))
    with pytest.raises(DataError, match=r"test\.csv: row 3 \(line 4\).*'ugh'"):
        b.test()


def test_single_class_is_refused(tmp_path):
    p = _csv(tmp_path / "d.csv", [(f"t{i}", "same") for i in range(10)])
    with pytest.raises(DataError, match=r"d\.csv.*single class"):
        build_data(DataConfig(train=str(p)))


def test_max_train_samples_and_fingerprints(tmp_path):
    p = _csv(tmp_path / "d.csv", _rows(100))
    a = build_data(DataConfig(train=str(p), max_train_samples=20))
    b = build_data(DataConfig(train=str(p), max_train_samples=20))
    c = build_data(DataConfig(train=str(p), max_train_samples=30))
    assert len(a.train) == 20
    assert a.train.fingerprint() == b.train.fingerprint()
    assert a.train.fingerprint() != c.train.fingerprint()
    d = build_data(DataConfig(train=str(p), max_train_samples=20), preprocessing={"max_length": 32})
    assert d.train.fingerprint() != a.train.fingerprint()
    assert a.train.fingerprint() != a.validation.fingerprint()


def test_regression_targets(tmp_path):
    p = _csv(tmp_path / "d.csv", [(f"t{i}", i * 0.5) for i in range(20)])
    b = build_data(DataConfig(train=str(p), task="regression"))
    assert b.label_map is None and b.num_outputs == 1 and b.class_counts is None
    assert isinstance(b.train[0]["labels"], float)
    bad = _csv(tmp_path / "bad.csv", [("a", "1.5"), ("b", "lots")])
    with pytest.raises(DataError, match=r"bad\.csv: row 2.*number"):
        build_data(DataConfig(train=str(bad), task="regression"))


def test_kfold(tmp_path):
    p = _csv(tmp_path / "d.csv", _rows(60))
    b = build_data(DataConfig(train=str(p), kfold=3, split={"test": 0.1}))
    assert len(b.folds) == 3
    total = len(b.folds[0][0]) + len(b.folds[0][1])
    assert total == 54
    vals = sorted(t for _, v in b.folds for t in v.inputs)
    assert len(vals) == len(set(vals)) == 54


def test_zero_validation_without_file_is_config_error(tmp_path):
    p = _csv(tmp_path / "d.csv", _rows(20))
    with pytest.raises(ConfigError, match="data.split.validation"):
        build_data(DataConfig(train=str(p), split={"validation": 0}))


def test_images_from_npz_and_collate(tmp_path):
    p = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(p, x=rng.integers(0, 255, (30, 8, 8), dtype=np.uint8), y=np.arange(30) % 2)
    b = build_data(DataConfig(train=str(p), augment={"hflip": True}), image_size=16)
    assert b.modality == "image" and b.num_outputs == 2
    assert not b.train.deterministic and b.validation.deterministic
    batch = stack_collate([b.validation[0], b.validation[1]])
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    assert batch["labels"].dtype == torch.long


def test_float_images_out_of_range(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.full((10, 4, 4), 300.0), y=np.arange(10) % 2)
    with pytest.raises(DataError, match=r"d\.npz.*\[0, 255\]"):
        build_data(DataConfig(train=str(p)))


def test_text_collator_pads_per_batch():
    class Tok:
        def __call__(self, texts, padding, truncation, max_length, return_tensors):
            assert padding == "longest" and truncation
            n = max(len(t.split()) for t in texts)
            ids = torch.zeros(len(texts), min(n, max_length), dtype=torch.long)
            return {"input_ids": ids, "attention_mask": ids, "other": ids}

    coll = TextCollator(Tok(), max_length=5)
    out = coll([{"text": "a b", "labels": 1}, {"text": "a b c", "labels": 0}])
    assert out["input_ids"].shape == (2, 3) and set(out) == {
        "input_ids",
        "attention_mask",
        "labels",
    }
    out = coll([{"text": "a b c d e f g", "labels": 1}])
    assert out["input_ids"].shape == (1, 5)


def test_builtin_digits_shapes():
    b = build_data(DataConfig(builtin="digits", max_train_samples=50), image_size=16)
    assert len(b.train) == 50 and b.num_outputs == 10
    assert b.train[0]["pixel_values"].shape == (3, 16, 16)
