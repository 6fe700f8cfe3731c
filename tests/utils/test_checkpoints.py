from __future__ import annotations

import logging
import math

import pytest
import torch

from tunesmith.utils.atomic import MANIFEST_NAME
from tunesmith.utils.checkpoints import (
    STATE_NAME,
    WEIGHTS_NAME,
    CheckpointStore,
    checkpoint_dirname,
)


def _tensors(step):
    return {"w": torch.full((4, 3), float(step)), "b": torch.arange(5, dtype=torch.int64) + step}


def test_empty_store_loads_none(tmp_path):
    assert CheckpointStore(tmp_path / "none").load_latest() is None
    assert CheckpointStore(tmp_path).load_latest() is None


def test_save_and_load_roundtrip(tmp_path):
    store = CheckpointStore(tmp_path, keep=5)
    folder = store.save(7, _tensors(7), {"step": 7, "best": math.inf, "lr": [0.1, 0.01]})
    assert folder.name == "ckpt-00000007"
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_NAME, STATE_NAME, WEIGHTS_NAME]
    step, tensors, state = store.load_latest()
    assert step == 7
    assert torch.equal(tensors["w"], torch.full((4, 3), 7.0))
    assert torch.equal(tensors["b"], torch.arange(5) + 7)
    assert state == {"step": 7, "best": math.inf, "lr": [0.1, 0.01]}


def test_keeps_only_last_n(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for step in range(1, 6):
        store.save(step, _tensors(step), {"step": step})
    assert store.steps() == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000004", "ckpt-00000005"]


def test_non_contiguous_tensor_saved(tmp_path):
    store = CheckpointStore(tmp_path)
    t = torch.arange(12.0).reshape(3, 4).t()
    assert not t.is_contiguous()
    store.save(1, {"t": t}, {})
    assert torch.equal(store.load_latest()[1]["t"], t)


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / WEIGHTS_NAME).write_bytes(b"garbage"),
        lambda f: (f / WEIGHTS_NAME).unlink(),
        lambda f: (f / MANIFEST_NAME).unlink(),
        lambda f: (f / "extra.bin").write_bytes(b"x"),
        lambda f: (f / STATE_NAME).write_text('{"step": 999}\n'),
    ],
    ids=["garbled-weights", "missing-weights", "missing-manifest", "extra-file", "edited-state"],
)
def test_falls_back_to_last_good_with_warning(tmp_path, caplog, damage):
    store = CheckpointStore(tmp_path, keep=3)
    for step in (1, 2, 3):
        store.save(step, _tensors(step), {"step": step})
    damage(tmp_path / checkpoint_dirname(3))
    with caplog.at_level(logging.WARNING, logger="tunesmith.utils.checkpoints"):
        step, tensors, state = store.load_latest()
    assert step == 2 and state == {"step": 2}
    assert torch.equal(tensors["w"], torch.full((4, 3), 2.0))
    assert any("ckpt-00000003" in r.getMessage() for r in caplog.records)


def test_all_corrupt_gives_none(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(1, _tensors(1), {})
    (tmp_path / checkpoint_dirname(1) / WEIGHTS_NAME).write_bytes(b"")
    assert store.load_latest() is None


def test_stale_temporaries_removed_on_next_save(tmp_path):
    (tmp_path / ".ckpt-00000009.abc.tmp").mkdir()
    (tmp_path / ".ckpt-00000009.abc.tmp" / "half").write_bytes(b"x")
    (tmp_path / "unrelated.txt").write_text("keep me")
    store = CheckpointStore(tmp_path)
    assert store.steps() == []
    store.save(1, _tensors(1), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000001", "unrelated.txt"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="keep"):
        CheckpointStore(tmp_path, keep=0)
    store = CheckpointStore(tmp_path)
    with pytest.raises(ValueError, match="step"):
        store.save(-1, {}, {})
    with pytest.raises(TypeError):
        store.save(1, {}, {"x": object()})
    assert not any(tmp_path.iterdir())
