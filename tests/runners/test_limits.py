"""Limits that hold: a trial past study.trial_timeout, a worker past worker_memory_mb, recycling."""

from __future__ import annotations

import os
import time

import pytest
from optuna.trial import TrialState

from tunesmith.config.experiment import StudyConfig
from tunesmith.experiment import tune
from tunesmith.runners.local import resident_mb


def _objective(p):
    if p["k"] == 1:
        time.sleep(600)  # hangs: only the timeout ends it
    if p["k"] == 2:
        block = bytearray(400 * 2**20)  # resident at once: zero pages are written
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(600)
    return {"score": float(p["k"]), "pid": os.getpid()}


def test_timeout_and_memory_fail_their_trials_and_the_rest_complete():
    start = time.monotonic()
    res = tune(
        _objective,
        {"k": {"type": "int", "low": 0, "high": 5}},
        sampler="grid",
        n_trials=6,
        workers=2,
        metric="score",
        trial_timeout=3,
        worker_memory_mb=250,
    )
    took = time.monotonic() - start
    by_k = {t.params["k"]: t for t in res.study.trials}
    assert by_k[1].state == TrialState.FAIL
    assert by_k[1].user_attrs["fail_reason"] == "timeout after 3 s (study.trial_timeout)"
    assert by_k[2].state == TrialState.FAIL
    assert "worker_memory_mb = 250 MB" in by_k[2].user_attrs["fail_reason"]
    assert "memory" in by_k[2].user_attrs["fail_reason"]
    for k in (0, 3, 4, 5):
        assert by_k[k].state == TrialState.COMPLETE and by_k[k].value == k
    assert took < 60  # the hanging trials did not hang the study


def test_workers_are_recycled_after_max_trials():
    res = tune(
        lambda p: {"score": p["x"], "pid": os.getpid()},
        {"x": {"type": "float", "low": 0, "high": 1}},
        sampler="random",
        seed=0,
        n_trials=6,
        workers=1,
        metric="score",
        max_trials_per_worker=2,
    )
    pids = [t.user_attrs["pid"] for t in sorted(res.study.trials, key=lambda t: t.number)]
    assert len(pids) == 6
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len(set(pids)) == 3


def test_resident_mb_reads_this_process():
    used = resident_mb(os.getpid())
    assert used is not None and 5 < used < 100_000


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"trial_timeout": 0}, "trial_timeout"),
        ({"worker_memory_mb": -1}, "worker_memory_mb"),
        ({"max_trials_per_worker": 0}, "max_trials_per_worker"),
        ({"runner": "inprocess", "trial_timeout": 5}, "trial_timeout needs worker processes"),
        ({"gpus_per_trial": 0.3}, "divide one GPU evenly"),
        ({"gpus_per_trial": 1.5}, "whole number"),
        ({"runner": "local", "ray_address": "127.0.0.1:6379"}, "ray_address needs runner: ray"),
        ({"cpus_per_trial": 2}, "cpus_per_trial is a Ray resource"),
    ],
)
def test_bad_limits_name_field_rule_and_value(settings, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        StudyConfig(name="s", **settings)


def test_ray_address_implies_the_ray_runner():
    cfg = StudyConfig(name="s", ray_address="127.0.0.1:6379")
    assert cfg.runner == "ray"
