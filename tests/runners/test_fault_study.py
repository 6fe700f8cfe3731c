"""The fault study: 40 trials, a quarter of them raising, returning NaN or None, calling
os._exit, segfaulting, allocating past study.worker_memory_mb or hanging past study.trial_timeout.
Every trial ends in a terminal state with the right reason, the healthy ones complete, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

OBJECTIVE = """
import ctypes
import os
import time

FAULTS = ["raise", "nan", "none", "exit", "segfault", "memory", "hang"]


def fault_of(k):
    return FAULTS[(k // 4) % len(FAULTS)] if k % 4 == 0 else None


def faulty(params):
    fault = fault_of(params["k"])
    if fault == "raise":
        raise ValueError("boom")
    if fault == "nan":
        return float("nan")
    if fault == "none":
        return None
    if fault == "exit":
        os._exit(3)
    if fault == "segfault":
        ctypes.string_at(0)
    if fault == "memory":
        block = bytearray(600 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(600)
    if fault == "hang":
        time.sleep(600)
    return float(params["k"])
"""

CONFIG = """
study:
  name: faults
  sampler: {name: grid}
  n_trials: 40
  workers: 2
  trial_timeout: 4
  worker_memory_mb: 400
  max_consecutive_failures: 5
objective: faulty_obj:faulty
space:
  k: {type: int, low: 0, high: 39}
"""

EXPECTED = {
    "raise": "ValueError: boom",
    "nan": "not finite",
    "none": "must be a number, got None",
    "exit": "worker process exited with code 3",
    "segfault": "killed by signal SIGSEGV",
    "memory": "study.worker_memory_mb = 400 MB",
    "hang": "timeout after 4 s (study.trial_timeout)",
}


def _fault_of(k: int) -> str | None:
    faults = list(EXPECTED)
    return faults[(k // 4) % len(faults)] if k % 4 == 0 else None


def test_forty_trial_fault_study(tmp_path: Path):
    (tmp_path / "faulty_obj.py").write_text(OBJECTIVE)
    (tmp_path / "exp.yaml").write_text(CONFIG)
    exe = Path(sys.executable).with_name("tunesmith")
    done = subprocess.run(
        [str(exe), "tune", "exp.yaml", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    url = f"sqlite:///{tmp_path}/runs/faults/study.db"
    trials = optuna.load_study(study_name="faults", storage=url).trials
    assert len(trials) == 40
    by_k = {t.params["k"]: t for t in trials}
    assert sorted(by_k) == list(range(40))
    seen = set()
    for k, t in by_k.items():
        fault = _fault_of(k)
        if fault is None:
            assert t.state == TrialState.COMPLETE and t.value == k, (k, t.state)
        else:
            seen.add(fault)
            assert t.state == TrialState.FAIL, (k, fault, t.state)
            assert EXPECTED[fault] in t.user_attrs["fail_reason"], (k, t.user_attrs)
    assert seen == set(EXPECTED)
    assert sum(t.state == TrialState.FAIL for t in trials) == 10
