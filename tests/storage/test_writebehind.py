"""The coordinator's write-behind storage: batched writes, the delay bound, what a crash loses."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.errors import Interrupted
from tunesmith.experiment import tune
from tunesmith.storage.internals import study_id, study_storage, trial_id
from tunesmith.storage.study import make_storage
from tunesmith.storage.writebehind import FLUSH_TRIALS, WriteBehind

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
SRC = Path(__file__).resolve().parents[2] / "src"


def _study(url: str, **kwargs: object) -> tuple[optuna.Study, WriteBehind]:
    storage = WriteBehind(make_storage(url), **kwargs)  # type: ignore[arg-type]
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
    return study, storage


def _stored(url: str) -> list[optuna.trial.FrozenTrial]:
    """The trials as another process reads them: straight from the database."""
    return optuna.load_study(study_name="s", storage=url).get_trials(deepcopy=False)


def _run_one(study: optuna.Study, x_value: float) -> None:
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.report(x_value, 0)
    trial.set_user_attr("note", {"x": x})
    study.tell(trial, x + x_value)


def test_finished_trials_are_written_together_when_the_batch_is_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study, storage = _study(url, flush_trials=3, flush_seconds=3600)
    for i in range(2):
        _run_one(study, float(i))
    stored = _stored(url)
    assert [t.state for t in stored] == [TrialState.RUNNING] * 2  # created at once, not told yet
    assert all(not t.params for t in stored)
    _run_one(study, 2.0)  # the third finished trial fills the batch
    stored = _stored(url)
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 3
    mine = study.get_trials(deepcopy=False)
    for a, b in zip(mine, stored):
        assert (a.number, a.params, a.values, a.user_attrs, a.intermediate_values) == (
            b.number,
            b.params,
            b.values,
            b.user_attrs,
            b.intermediate_values,
        )
        assert b.datetime_complete is not None
    storage.close()


def test_a_change_waits_at_most_the_flush_delay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study, storage = _study(url, flush_trials=1000, flush_seconds=0.1)
    _run_one(study, 0.5)
    deadline = time.monotonic() + 5.0
    while _stored(url)[0].state != TrialState.COMPLETE:
        assert time.monotonic() < deadline, "the background flush never wrote the trial"
        time.sleep(0.05)
    storage.close()


def test_close_writes_everything_and_later_writes_go_out_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study, storage = _study(url, flush_trials=1000, flush_seconds=3600)
    _run_one(study, 0.1)
    storage.close()
    assert [t.state for t in _stored(url)] == [TrialState.COMPLETE]
    _run_one(study, 0.2)
    assert [t.state for t in _stored(url)] == [TrialState.COMPLETE] * 2


def test_trials_of_other_processes_are_read_and_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study, storage = _study(url, flush_trials=1000, flush_seconds=3600)
    _run_one(study, 0.0)
    other = optuna.load_study(study_name="s", storage=url)
    other.enqueue_trial({"x": 0.25})
    t = other.ask()
    other.tell(t, 1.0)
    other.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
            value=2.0,
            user_attrs={"warm_start_from": "old#0"},
        )
    )
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE] * 3
    sid = study_id(study)
    assert storage.count_trials(sid, (TrialState.COMPLETE,)) == 2  # the copy is not counted
    values = [t.value for t in study.get_trials(deepcopy=False)]
    assert study.best_value == min(values)  # served from the cache
    storage.close()


def test_a_trial_another_process_finished_keeps_its_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study, storage = _study(url, flush_trials=1000, flush_seconds=3600)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    other = optuna.load_study(study_name="s", storage=url)
    study_storage(other).set_trial_state_values(trial_id(trial), TrialState.FAIL)  # lease expired
    study.tell(trial, 0.5)
    storage.close()  # the write is dropped with a warning, not an error
    assert [t.state for t in _stored(url)] == [TrialState.FAIL]


def test_an_interrupted_run_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"

    def objective(params: dict[str, float]) -> float:
        if len(calls) == 30:
            raise KeyboardInterrupt
        calls.append(params["x"])
        return params["x"]

    calls: list[float] = []
    with pytest.raises((Interrupted, KeyboardInterrupt)):
        tune(
            objective,
            SPACE,
            sampler="random",
            n_trials=100,
            storage=url,
            study_name="s",
            runner="inprocess",
            seed=0,
        )
    stored = _stored(url)
    done = [t for t in stored if t.state == TrialState.COMPLETE]
    assert len(done) == 30 and sorted(t.value for t in done) == sorted(calls)
    assert not [t for t in stored if t.state == TrialState.RUNNING]


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import tunesmith
    def objective(params):
        if params["x"] < 0 or len(seen) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        seen.append(params["x"])
        return params["x"]
    seen = []
    tunesmith.tune(objective, {"x": {"type": "float", "low": 0.0, "high": 1.0}},
                   sampler="random", n_trials=int(sys.argv[3]), storage=sys.argv[1],
                   study_name="s", runner="inprocess", seed=0)
    """
)


def test_sigkill_loses_at_most_the_last_batch_and_a_resume_completes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    kill_at, n_trials = 150, 200
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, url, str(kill_at), str(n_trials)], env=env, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = _stored(url)
    done = [t for t in stored if t.state == TrialState.COMPLETE]
    running = [t for t in stored if t.state == TrialState.RUNNING]
    assert len(done) + len(running) == kill_at + 1  # every trial was created at once
    assert kill_at - FLUSH_TRIALS <= len(done) <= kill_at  # lost: at most the last batch
    assert all(t.params and t.values for t in done)  # a stored result is whole
    # The resume fails the dead process's trials and runs new ones in their place.
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, url, str(10**6), str(n_trials)], env=env, timeout=300
    )
    assert proc.returncode == 0
    stored = _stored(url)
    assert sum(t.state == TrialState.COMPLETE for t in stored) == n_trials
    assert not [t for t in stored if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    abandoned = [t for t in stored if t.state == TrialState.FAIL]
    assert len(abandoned) == len(running)
    assert all("abandoned" in t.user_attrs["fail_reason"] for t in abandoned)
