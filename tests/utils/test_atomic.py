from __future__ import annotations

import json
import os

import pytest

from tunesmith.errors import TunesmithError
from tunesmith.utils.atomic import (
    MANIFEST_NAME,
    CorruptArtifactError,
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    verify_manifest,
)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_bytes_text_json_replace_and_leave_no_temp(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic_write_json(tmp_path / "j.json", {"b": 1, "a": [1.5, None]})
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": [1.5, None], "b": 1}
    assert _leftovers(tmp_path) == []


def test_write_json_failure_keeps_old_content(tmp_path):
    target = tmp_path / "j.json"
    atomic_write_json(target, {"x": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert json.loads(target.read_text()) == {"x": 1}
    assert _leftovers(tmp_path) == []


def test_write_bytes_failure_midway_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")

    def boom(*a, **k):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_atomic_directory_writes_manifest_and_verifies(tmp_path):
    dest = tmp_path / "model"
    with atomic_directory(dest) as tmp:
        assert tmp.parent == tmp_path and tmp != dest
        assert not dest.exists()
        (tmp / "weights.bin").write_bytes(b"\x00" * 1000)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "cfg.json").write_text("{}")
    manifest = json.loads((dest / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {"weights.bin", "sub/cfg.json"}
    assert manifest["files"]["weights.bin"]["size"] == 1000
    verify_manifest(dest)
    assert _leftovers(tmp_path) == []


def test_atomic_directory_replaces_existing_target(tmp_path):
    dest = tmp_path / "model"
    with atomic_directory(dest) as tmp:
        (tmp / "a.txt").write_text("old")
    with atomic_directory(dest) as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST_NAME, "b.txt"]
    verify_manifest(dest)
    assert _leftovers(tmp_path) == []


def test_atomic_directory_error_leaves_target_untouched(tmp_path):
    dest = tmp_path / "model"
    with atomic_directory(dest) as tmp:
        (tmp / "a.txt").write_text("old")
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    with pytest.raises(RuntimeError), atomic_directory(dest) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("crash")
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    assert _leftovers(tmp_path) == []
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "fresh"):
        raise RuntimeError("crash")
    assert not (tmp_path / "fresh").exists()


@pytest.fixture
def good(tmp_path):
    dest = tmp_path / "art"
    with atomic_directory(dest) as tmp:
        (tmp / "w.bin").write_bytes(b"abcdef")
        (tmp / "s.json").write_text("{}")
    return dest


def test_verify_manifest_missing_file(good):
    (good / "w.bin").unlink()
    with pytest.raises(CorruptArtifactError, match="missing.*w.bin"):
        verify_manifest(good)


def test_verify_manifest_extra_file(good):
    (good / "stray.txt").write_text("x")
    with pytest.raises(CorruptArtifactError, match="not in the manifest.*stray.txt"):
        verify_manifest(good)


def test_verify_manifest_size_and_checksum(good):
    (good / "w.bin").write_bytes(b"abc")
    with pytest.raises(CorruptArtifactError, match="3 bytes"):
        verify_manifest(good)
    (good / "w.bin").write_bytes(b"abcdeX")
    with pytest.raises(CorruptArtifactError, match="checksum"):
        verify_manifest(good)


@pytest.mark.parametrize("content", [None, "not json", '{"files": 3}', '{"files": {"a": {}}}'])
def test_verify_manifest_bad_manifest(good, content):
    if content is None:
        (good / MANIFEST_NAME).unlink()
    else:
        (good / MANIFEST_NAME).write_text(content)
    with pytest.raises(CorruptArtifactError) as info:
        verify_manifest(good)
    assert isinstance(info.value, TunesmithError)
    assert MANIFEST_NAME in str(info.value)


def test_verify_manifest_not_a_folder(tmp_path):
    with pytest.raises(CorruptArtifactError, match="not a folder"):
        verify_manifest(tmp_path / "nope")
