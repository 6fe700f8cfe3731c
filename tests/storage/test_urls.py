from __future__ import annotations

import pytest

from tunesmith.errors import ConfigError
from tunesmith.storage.urls import (
    check_storage_url,
    default_storage_url,
    prepare_storage_url,
    redact,
    resolve_storage_url,
    sqlite_path,
    storage_exists,
)


def test_default_and_resolve():
    assert default_storage_url("a_b") == "sqlite:///runs/a_b/study.db"
    assert resolve_storage_url(None, "x") == "sqlite:///runs/x/study.db"
    assert resolve_storage_url("postgres://u@h:5432/db", "x") == "postgresql://u@h:5432/db"
    assert resolve_storage_url(":memory:", "x") == "memory"


@pytest.mark.parametrize("bad", ["foo", "http://x", "sqlite://rel.db", "runs/study.db"])
def test_bad_urls_name_the_field(bad):
    with pytest.raises(ConfigError, match="--storage"):
        check_storage_url(bad, field="--storage")


def test_sqlite_paths_and_prepare(tmp_path):
    url = f"sqlite:///{tmp_path}/deep/er/s.db"
    assert sqlite_path(url) == tmp_path / "deep/er/s.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://h/db") is None
    assert not storage_exists(url)
    prepare_storage_url(url)
    assert (tmp_path / "deep/er").is_dir() and not (tmp_path / "deep/er/s.db").exists()


def test_redact():
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"
