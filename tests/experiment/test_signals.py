"""SIGTERM / SIGINT stop a study gracefully: trials end as "interrupted", are queued again once,
the exit code is 143 / 130, nothing is left RUNNING, and the same command resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.errors import Interrupted

OBJECTIVE = """
import time

def slow(params):
    time.sleep(1.0)
    return params["x"]
"""

CONFIG = """
study:
  name: sig
  sampler: {name: random, seed: 0}
  n_trials: 8
  workers: 2
objective: slow_obj:slow
space:
  x: {type: float, low: 0.0, high: 1.0}
"""


def _tune(cwd: Path, **kw) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("tunesmith")
    return subprocess.Popen(
        [str(exe), "tune", "exp.yaml", "--no-progress"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _count(db: Path, state: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute("SELECT count(*) FROM trials WHERE state = ?", (state,)).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.mark.parametrize(
    ("sig", "code", "group"), [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)]
)
def test_signal_stops_gracefully_and_the_same_command_resumes(tmp_path, sig, code, group):
    (tmp_path / "slow_obj.py").write_text(OBJECTIVE)
    (tmp_path / "exp.yaml").write_text(CONFIG)
    db = tmp_path / "runs/sig/study.db"
    first = _tune(tmp_path, start_new_session=True)
    deadline = time.time() + 120
    while _count(db, "COMPLETE") < 2 or _count(db, "RUNNING") < 1:
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "no progress"
        time.sleep(0.1)
    if group:  # Ctrl-C reaches the whole foreground group, workers included
        os.killpg(first.pid, sig)
    else:  # a batch scheduler or docker stop signals the main process
        os.kill(first.pid, sig)
    out, _ = first.communicate(timeout=60)
    assert first.returncode == code, out
    assert "the same command resumes" in out

    url = f"sqlite:///{db}"
    trials = optuna.load_study(study_name="sig", storage=url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    assert stopped, "no trial was running when the signal came"
    for t in stopped:
        assert t.user_attrs["fail_reason"] == f"interrupted by {sig.name}"
        if not t.params:  # stopped before its parameters were sampled: nothing to queue
            assert t.user_attrs["requeued"] is False
            continue
        queued = [w for w in trials if w.user_attrs.get("requeued_from") == t.number]
        assert len(queued) == 1 and queued[0].state == TrialState.WAITING

    second = _tune(tmp_path)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    trials = optuna.load_study(study_name="sig", storage=url).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 8
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    for t in [s for s in stopped if s.params]:  # each one's parameters completed once
        again = [r for r in trials if r.user_attrs.get("requeued_from") == t.number]
        assert len(again) == 1 and again[0].state == TrialState.COMPLETE
        assert again[0].params == t.params


def test_signal_between_creating_and_tracking_a_trial_leaves_nothing_running(tmp_path, monkeypatch):
    """The signal arrives right after the storage created the RUNNING trial, before the
    coordinator tracks it: the trial still ends FAIL "interrupted"."""
    from tunesmith.experiment import coordinator, tune

    real = coordinator.ask_owned
    sent: list[int] = []

    def ask_then_signal(*args, **kwargs):
        trial = real(*args, **kwargs)
        if trial is not None and trial.number == 2:
            sent.append(trial.number)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs here, inside the critical section: held
        return trial

    monkeypatch.setattr(coordinator, "ask_owned", ask_then_signal)
    url = f"sqlite:///{tmp_path}/s.db"
    with pytest.raises(Interrupted) as info:
        tune(
            lambda p: p["x"],
            {"x": {"type": "float", "low": 0, "high": 1}},
            sampler="random",
            n_trials=5,
            runner="inprocess",
            storage=url,
            study_name="between",
        )
    assert info.value.exit_code == 143 and sent == [2]
    trials = optuna.load_study(study_name="between", storage=url).trials
    states = [t.state for t in trials]
    assert states[:3] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL]
    assert TrialState.RUNNING not in states
    assert trials[2].user_attrs["fail_reason"] == "interrupted by SIGTERM"
    again = [t for t in trials if t.user_attrs.get("requeued_from") == 2]
    assert len(again) == 1 and again[0].state == TrialState.WAITING
    assert again[0].system_attrs["fixed_params"] == trials[2].params
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
