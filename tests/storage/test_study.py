"""open_study / load_existing_study on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid

import optuna
import pytest

from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.storage.study import delete_study, driver_url, load_existing_study, open_study

PG_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


def test_create_resume_and_direction_check(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/s.db"
    study = open_study("s1", url, ["maximize"])
    study.add_trial(optuna.trial.create_trial(value=1.0))
    again = open_study("s1", url, ["maximize"])
    assert len(again.trials) == 1
    with pytest.raises(ConfigError, match=r"directions \['maximize'\]"):
        open_study("s1", url, ["minimize"])
    plain = optuna.load_study(study_name="s1", storage=url)
    assert plain.best_value == 1.0


def test_load_missing_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/none/s.db"
    with pytest.raises(TunesmithError, match="does not exist"):
        load_existing_study("x", url)
    assert not (tmp_path / "none").exists()
    open_study("here", f"sqlite:///{tmp_path}/s.db", ["minimize"])
    with pytest.raises(TunesmithError, match="studies there: here"):
        load_existing_study("x", f"sqlite:///{tmp_path}/s.db")


def _postgres_url() -> str:
    import sqlalchemy

    errors = []
    for url in PG_URLS:
        try:
            with sqlalchemy.create_engine(driver_url(url)).connect():
                return url
        except Exception as exc:  # server missing or user refused
            errors.append(f"{url}: {exc}")
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is required under CI: " + "; ".join(errors))
    pytest.skip("no PostgreSQL server on 127.0.0.1:5432")


@pytest.mark.postgres
def test_postgres_round_trip():
    url = _postgres_url()
    name = f"tunesmith-test-{uuid.uuid4().hex[:10]}"
    try:
        study = open_study(name, url, ["maximize", "minimize"])
        study.add_trial(optuna.trial.create_trial(values=[1.0, 2.0]))
        loaded = load_existing_study(name, url)
        assert [t.values for t in loaded.trials] == [[1.0, 2.0]]
        with pytest.raises(ConfigError):
            open_study(name, url, ["maximize"])
    finally:
        delete_study(name, url)
    with pytest.raises(TunesmithError, match="no study"):
        load_existing_study(name, url)
