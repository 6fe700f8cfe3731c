"""Reconciling abandoned RUNNING trials: dead owners and expired leases, never live ones."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from tunesmith.storage.leases import LEASE, OWNER, Owner, fail_waiting, reconcile, stale_reason


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


def _storage_snapshots(study, monkeypatch):
    """Record the stored state and owner of every trial after each storage write."""
    seen = []
    storage = study._storage
    for name in ("set_trial_state_values", "set_trial_user_attr", "create_new_trial"):
        real = getattr(storage, name)

        def wrapped(*args, _real=real, **kwargs):
            out = _real(*args, **kwargs)
            seen.extend(
                (t.state, OWNER in t.user_attrs)
                for t in storage.get_all_trials(study._study_id, deepcopy=False)
            )
            return out

        monkeypatch.setattr(storage, name, wrapped)
    return seen


def test_ask_owned_never_leaves_a_running_trial_without_owner(tmp_path, monkeypatch):
    """A process killed at any storage write of ask_owned leaves no unowned RUNNING trial."""
    from tunesmith.storage.leases import ask_owned

    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    study.enqueue_trial({"x": 0.25})
    seen = _storage_snapshots(study, monkeypatch)
    me = Owner().attrs(time.time())
    queued = ask_owned(study, me, time.time() + 60)  # pops the waiting trial
    assert queued.suggest_float("x", 0, 1) == 0.25
    fresh = ask_owned(study, me, time.time() + 60)  # creates a new one
    assert fresh.number == queued.number + 1
    assert seen and all(has_owner for state, has_owner in seen if state == TrialState.RUNNING)
    for trial in study.get_trials(deepcopy=False):
        assert trial.state == TrialState.RUNNING
        assert trial.user_attrs[OWNER] == me and trial.user_attrs[LEASE] > time.time()


def test_reconcile_never_requeues_a_trial_that_already_has_a_replacement():
    from tunesmith.storage.study import enqueue

    study = optuna.create_study()
    me = Owner()
    dead = {"host": me.host, "pid": _dead_pid(), "run": "gone"}
    number = _running(study, 0.7, dead, time.time() + 999)
    enqueue(study, {"x": 0.7}, user_attrs={"requeued_from": number})  # replaced already

    assert reconcile(study, me) == [number]
    assert reconcile(study, Owner()) == []  # a second coordinator finds nothing left to do
    trials = study.trials
    assert trials[number].state == TrialState.FAIL
    assert trials[number].user_attrs["requeued"] is False
    assert sum(t.user_attrs.get("requeued_from") == number for t in trials) == 1


def test_concurrent_reconciles_requeue_once(tmp_path):
    import threading

    url = f"sqlite:///{tmp_path}/r.db"
    study = optuna.create_study(study_name="r", storage=url)
    me = Owner()
    number = _running(study, 0.4, {"host": me.host, "pid": _dead_pid(), "run": "x"}, 1e12)
    barrier = threading.Barrier(4)

    def go():
        mine = optuna.load_study(study_name="r", storage=url)
        barrier.wait()
        reconcile(mine, Owner())

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trials = optuna.load_study(study_name="r", storage=url).trials
    assert sum(t.user_attrs.get("requeued_from") == number for t in trials) == 1


def test_fail_waiting_fails_only_the_named_queued_trials(tmp_path):
    from tunesmith.storage.study import make_storage
    from tunesmith.storage.writebehind import WriteBehind

    url = f"sqlite:///{tmp_path / 'q.db'}"
    for storage in (make_storage(url), WriteBehind(make_storage(url))):
        study = optuna.create_study(storage=storage, study_name=f"q{id(storage)}")
        for x in (0.1, 0.2, 0.3):
            study.enqueue_trial({"x": x})
        first, second, third = (t.number for t in study.trials)
        assert fail_waiting(study, [first, third, 99], "not started: budget spent") == [
            first,
            third,
        ]
        if isinstance(storage, WriteBehind):
            storage.close()
        again = optuna.load_study(study_name=study.study_name, storage=make_storage(url))
        states = {t.number: t.state for t in again.trials}
        assert states == {
            first: TrialState.FAIL,
            second: TrialState.WAITING,
            third: TrialState.FAIL,
        }
        assert again.trials[first].user_attrs["fail_reason"] == "not started: budget spent"
        assert fail_waiting(again, [first], "again") == []  # a finished trial is left alone
