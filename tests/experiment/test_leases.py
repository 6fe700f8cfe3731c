"""Reconciling abandoned RUNNING trials: dead owners and expired leases, never live ones."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from tunesmith.experiment.leases import LEASE, OWNER, Owner, reconcile, stale_reason


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running(study, x, owner, lease):
    trial = study.ask()
    study._storage.set_trial_param(
        trial._trial_id, "x", x, optuna.distributions.FloatDistribution(0, 1)
    )
    trial.set_user_attr(OWNER, owner)
    trial.set_user_attr(LEASE, lease)
    return trial.number


def test_reconcile_fails_and_requeues_only_abandoned_trials():
    study = optuna.create_study()
    me = Owner()
    now = time.time()
    dead = _running(study, 0.1, {"host": me.host, "pid": _dead_pid(), "run": "a"}, now + 999)
    expired = _running(study, 0.2, {"host": "elsewhere", "pid": 1, "run": "b"}, now - 1)
    live_here = _running(study, 0.3, {"host": me.host, "pid": 1, "run": "c"}, now + 999)
    live_there = _running(study, 0.4, {"host": "elsewhere", "pid": 2, "run": "d"}, now + 999)
    earlier_me = _running(study, 0.5, {"host": me.host, "pid": me.pid, "run": "old"}, now + 999)

    done = reconcile(study, me)

    assert sorted(done) == sorted([dead, expired, earlier_me])
    states = {t.number: t.state for t in study.trials}
    assert states[live_here] == TrialState.RUNNING  # pid 1 is alive on this host
    assert states[live_there] == TrialState.RUNNING  # its lease still holds
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs["requeued_from"] for t in waiting) == sorted(done)
    for number in done:
        t = study.trials[number]
        assert t.state == TrialState.FAIL
        assert t.user_attrs["fail_reason"].startswith("abandoned:")
    # the re-queued trial keeps its parameters when asked again
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) in (0.1, 0.2, 0.5)


def test_requeue_happens_once():
    study = optuna.create_study()
    me = Owner()
    first = _running(study, 0.7, {"host": me.host, "pid": _dead_pid(), "run": "a"}, 0)
    reconcile(study, me)
    rerun = study.ask()
    assert rerun.user_attrs["requeued_from"] == first
    rerun.set_user_attr(OWNER, {"host": me.host, "pid": _dead_pid(), "run": "b"})
    assert reconcile(study, me) == [rerun.number]
    assert not [t for t in study.trials if t.state == TrialState.WAITING]


def test_own_run_is_never_stale():
    me = Owner()
    study = optuna.create_study()
    number = _running(study, 0.1, me.attrs(time.time()), 0)  # even with an expired lease
    assert stale_reason(study.trials[number], me, time.time()) is None
