"""The study entry points (open, load, make_storage, enqueue, add, read): SQLite, PostgreSQL."""

from __future__ import annotations

import os
import uuid

import optuna
import pytest

from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.storage.study import (
    add_finished_trial,
    current_trial,
    delete_study,
    driver_url,
    enqueue,
    load_existing_study,
    make_storage,
    open_study,
)

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


def test_every_writing_entry_point_makes_a_new_sqlite_folder(tmp_path):
    storage = make_storage(f"sqlite:///{tmp_path}/a/b/s.db")
    assert (tmp_path / "a" / "b" / "s.db").is_file()
    assert storage.get_all_studies() == []

    url = f"sqlite:///{tmp_path}/c/d/s.db"
    enqueue(open_study("q", url, ["minimize"]), {"x": 1})
    plain = optuna.load_study(study_name="q", storage=url)
    assert [t.state for t in plain.trials] == [optuna.trial.TrialState.WAITING]

    with pytest.raises(TunesmithError, match="does not exist"):
        load_existing_study("q", f"sqlite:///{tmp_path}/e/s.db")
    with pytest.raises(TunesmithError, match="does not exist"):
        delete_study("q", f"sqlite:///{tmp_path}/e/s.db")
    assert not (tmp_path / "e").exists()


def test_enqueue_queues_params_and_attrs_even_when_already_queued():
    study = open_study("q", "memory", ["minimize"])
    enqueue(study, {"x": 0.5}, user_attrs={"from": "recipe"})
    enqueue(study, {"x": 0.5})
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.user_attrs for t in waiting] == [{"from": "recipe"}, {}]
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) == 0.5
    assert trial.user_attrs == {"from": "recipe"}


def test_add_finished_trial_adds_a_complete_trial_or_refuses_one_that_does_not_fit():
    study = open_study("w", "memory", ["maximize"])
    dists = {"x": optuna.distributions.FloatDistribution(0, 1)}
    add_finished_trial(study, {"x": 0.3}, dists, 0.9, {"warm_start_from": "old#4"})
    (done,) = study.trials
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert (done.params, done.value, done.user_attrs) == (
        {"x": 0.3},
        0.9,
        {"warm_start_from": "old#4"},
    )
    with pytest.raises(ValueError):
        add_finished_trial(study, {"x": 3.0}, dists, 0.5, {})
    assert len(study.trials) == 1


def test_current_trial_reads_what_is_stored_now(tmp_path):
    study = open_study("c", f"sqlite:///{tmp_path}/s.db", ["minimize"])
    study.ask()
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("lease_until", 5.0)
    frozen = current_trial(study, trial)
    assert frozen.number == 1 and frozen.state == optuna.trial.TrialState.RUNNING
    assert frozen.user_attrs == {"lease_until": 5.0} and set(frozen.params) == {"x"}
    study.tell(trial, 1.0)
    assert current_trial(study, trial).state == optuna.trial.TrialState.COMPLETE


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


@pytest.mark.postgres
def test_plain_optuna_opens_a_postgres_study_with_the_users_url():
    # The URL as the user typed it (no +driver): SQLAlchemy's default PostgreSQL driver must be
    # installed (the postgres extra), so Optuna and optuna-dashboard open the study too.
    url = _postgres_url()
    assert url.startswith("postgresql://")
    name = f"tunesmith-test-{uuid.uuid4().hex[:10]}"
    try:
        study = open_study(name, url, ["maximize"])
        study.add_trial(optuna.trial.create_trial(value=0.5))
        plain = optuna.load_study(study_name=name, storage=url)
        assert plain.best_value == 0.5
    finally:
        delete_study(name, url)
