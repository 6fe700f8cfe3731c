"""Kill the whole `tunesmith tune` process group mid-study, run it again: exactly n_trials done."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

OBJECTIVE = """
import time

def slow(params):
    time.sleep(0.4)
    return params["x"]
"""

CONFIG = """
study:
  name: killme
  sampler: {name: random, seed: 0}
  n_trials: 12
  workers: 2
objective: slow_obj:slow
space:
  x: {type: float, low: 0.0, high: 1.0}
"""


def _tunesmith(cwd: Path, **kw) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("tunesmith")
    return subprocess.Popen(
        [str(exe), "tune", "exp.yaml", "--no-progress"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _complete(db: Path) -> int:
    """COMPLETE trials so far, read without writing: opening the file through Optuna while
    the run creates its tables would race it for the schema."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return 0
    return int(row[0])


def test_sigkill_then_resume(tmp_path):
    (tmp_path / "slow_obj.py").write_text(OBJECTIVE)
    (tmp_path / "exp.yaml").write_text(CONFIG)
    url = f"sqlite:///{tmp_path}/runs/killme/study.db"
    first = _tunesmith(tmp_path, start_new_session=True)
    deadline = time.time() + 120
    while _complete(tmp_path / "runs/killme/study.db") < 3:
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "no progress"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    study = optuna.load_study(study_name="killme", storage=url)
    before = study.get_trials(deepcopy=False)
    assert any(t.state == TrialState.RUNNING for t in before), "killed with no trial running"
    assert sum(t.state == TrialState.COMPLETE for t in before) < 12

    second = _tunesmith(tmp_path)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out

    trials = optuna.load_study(study_name="killme", storage=url).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 12
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    # The resumed sampler (same seed) proposes the first run's parameters again: those proposals
    # are re-sampled and recorded as failed duplicates, never run.
    abandoned = [
        t for t in trials if t.state == TrialState.FAIL and "duplicate_of" not in t.user_attrs
    ]
    assert abandoned and all("dead" in t.user_attrs["fail_reason"] for t in abandoned)
    for t in abandoned:  # each abandoned trial's parameters ran again, once
        reruns = [r for r in trials if r.user_attrs.get("requeued_from") == t.number]
        if not t.params:  # killed before its parameters were sampled: nothing to run again
            assert reruns == [] and t.user_attrs["requeued"] is False
            continue
        assert len(reruns) == 1 and reruns[0].params == t.params, (t, reruns)
        assert reruns[0].state == TrialState.COMPLETE
