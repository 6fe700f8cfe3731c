from __future__ import annotations

import os

import pytest

from tunesmith.errors import ConfigError
from tunesmith.storage.paths import MAX_NAME, safe_child, safe_name


@pytest.mark.parametrize("ok", ["study", "my-study_2.v1", "A", "x" * MAX_NAME, "a.b-c_d", "0"])
def test_safe_name_accepts(ok):
    assert safe_name(ok, "study.name") == ok


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("", "must not be empty"),
        (".hidden", "must not start with '.'"),
        ("..", "must not start with '.'"),
        ("a..b", "must not contain '..'"),
        ("a/b", "may contain only"),
        ("a\\b", "may contain only"),
        ("a b", "may contain only"),
        ("naïve", "may contain only"),
        ("a\x00b", "NUL"),
        ("x" * (MAX_NAME + 1), f"at most {MAX_NAME} characters"),
        (3, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_safe_name_refuses_with_field_rule_value(bad, rule):
    with pytest.raises(ConfigError) as info:
        safe_name(bad, "study.name")
    msg = str(info.value)
    assert msg.startswith("study.name ")
    assert rule in msg
    assert repr(bad)[:40] in msg


def test_safe_child_inside_root(tmp_path):
    assert safe_child(tmp_path, "trial-1", "trial") == (tmp_path / "trial-1").resolve()
    assert safe_child(tmp_path, "a/b/c.json", "f") == (tmp_path / "a" / "b" / "c.json").resolve()
    assert safe_child(tmp_path, "./a", "f") == (tmp_path / "a").resolve()


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a/..", "'..'"),
        ("..\\x", "'..'"),
        ("/etc/passwd", "not absolute"),
        ("a\x00b", "NUL"),
        ("", "must not be empty"),
        (5, "relative path string"),
    ],
)
def test_safe_child_refuses(tmp_path, bad, rule):
    with pytest.raises(ConfigError) as info:
        safe_child(tmp_path, bad, "export.path")
    assert str(info.value).startswith("export.path ")
    assert rule in str(info.value)


def test_safe_child_refuses_symlink_leaving_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "escape")
    os.symlink("/etc/hostname", root / "file-link")
    with pytest.raises(ConfigError, match="must stay inside"):
        safe_child(root, "escape", "f")
    with pytest.raises(ConfigError, match="must stay inside"):
        safe_child(root, "escape/new.txt", "f")
    with pytest.raises(ConfigError, match="must stay inside"):
        safe_child(root, "file-link", "f")


def test_safe_child_allows_symlink_within_root_and_symlinked_root(tmp_path):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    os.symlink(real / "sub", real / "alias")
    assert safe_child(real, "alias/x", "f") == (real / "sub" / "x").resolve()
    os.symlink(real, tmp_path / "rootlink")
    assert safe_child(tmp_path / "rootlink", "sub", "f") == (real / "sub").resolve()
