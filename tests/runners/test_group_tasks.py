"""Group tasks in the runners: several trials in one task, each with its own outcome."""

from __future__ import annotations

import os
import random
import time

import optuna
import pytest

from tunesmith.runners.base import (
    CallbackReporter,
    Outcome,
    RunnerLimits,
    TrialTask,
    as_objective_call,
    execute_group,
)
from tunesmith.runners.inprocess import InProcessRunner
from tunesmith.runners.local import LocalRunner


class Heads:
    """An objective that trains its members together: ``run_group`` steps them in lockstep.

    A member with ``fail`` set comes back as an exception; a member whose reporter answers
    prune stops stepping (and comes back pruned); ``exit_after`` ends the process once that
    many steps were reported; ``sleep`` makes the group slow.
    """

    def __call__(self, params, reporter):  # a member run alone
        return self.run_group([params], [reporter])[0]

    def run_group(self, params_list, reporters):
        steps, exit_after = 0, max(p.get("exit_after", 0) for p in params_list)
        alive = [True] * len(params_list)
        for step in range(3):
            for i, (params, reporter) in enumerate(zip(params_list, reporters)):
                if not alive[i]:
                    continue
                if reporter.report(step, params["x"] + step):
                    alive[i] = False
                steps += 1
                if steps == exit_after:
                    os._exit(3)
            time.sleep(params_list[0].get("sleep", 0))
        out = []
        for params, ok in zip(params_list, alive):
            if params.get("fail"):
                out.append(ValueError(f"bad member {params['x']}"))
            else:
                out.append({"score": params["x"] * 10, "pid": os.getpid(), "alive": ok})
        return out


class Broken:
    def __init__(self, result=None, raises=None):
        self.result, self.raises = result, raises

    def __call__(self, params):
        return 0.0

    def run_group(self, params_list, reporters):
        if self.raises is not None:
            raise self.raises
        return self.result


def _group(*params, seed=None, first=0):
    members = tuple(
        TrialTask(first + i, dict(p), None if seed is None else seed + i)
        for i, p in enumerate(params)
    )
    return TrialTask(members[0].key, members[0].params, members[0].seed, members)


def _prune_key(key):
    """A decide stub that prunes trial ``key`` at step 1 and lets the others go on."""
    asked = []

    def decide(k, step, value):
        asked.append((k, step, value))
        return k == key and step >= 1

    return decide, asked


def _run(runner, n, decide, limit=60.0):
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + limit
    while len(outcomes) < n and time.monotonic() < deadline:
        outcomes.extend(runner.wait(0.5, decide))
    return {o.key: o for o in outcomes}


def _check_group_of_four(by_key, asked):
    assert set(by_key) == {0, 1, 2, 3}
    assert by_key[0].status == by_key[3].status == "ok"
    assert by_key[0].value["score"] == 1.0 and by_key[3].value["score"] == 4.0
    assert by_key[1].status == "error" and by_key[1].error == "ValueError: bad member 0.2"
    assert by_key[2].status == "pruned" and by_key[2].value["alive"] is False
    assert len({o.value["pid"] for o in by_key.values() if o.value}) == 1  # one process
    assert [(k, s) for k, s, _ in asked if k == 2] == [(2, 0), (2, 1)]  # stopped at step 1
    assert [s for k, s, _ in asked if k == 3] == [0, 1, 2]


FOUR = ({"x": 0.1}, {"x": 0.2, "fail": True}, {"x": 0.3}, {"x": 0.4})


def test_inprocess_group_each_member_its_own_outcome():
    runner = InProcessRunner(as_objective_call(Heads()))
    decide, asked = _prune_key(2)
    runner.submit(_group(*FOUR))
    by_key = _run(runner, 4, decide)
    _check_group_of_four(by_key, asked)
    assert by_key[0].value["pid"] == os.getpid()


def test_local_group_takes_one_worker_and_returns_every_member():
    runner = LocalRunner(as_objective_call(Heads()), workers=1)
    try:
        decide, asked = _prune_key(2)
        runner.submit(_group(*FOUR))
        runner.submit(TrialTask(9, {"x": 0.5}))  # waits for the group's worker
        by_key = _run(runner, 5, decide)
        assert by_key.pop(9).value["score"] == 5.0
        _check_group_of_four(by_key, asked)
        assert by_key[0].value["pid"] != os.getpid()
        assert runner.started_workers == 1
    finally:
        runner.close()


def test_local_worker_dying_mid_group_fails_every_member():
    runner = LocalRunner(as_objective_call(Heads()), workers=1)
    try:
        decide, asked = _prune_key(-1)
        runner.submit(_group({"x": 0.1}, {"x": 0.2}, {"x": 0.3, "exit_after": 5}))
        by_key = _run(runner, 3, decide)
        assert len(asked) == 5  # it died mid-group
        assert set(by_key) == {0, 1, 2}
        for outcome in by_key.values():
            assert outcome.status == "error"
            assert outcome.error == "worker process exited with code 3"
    finally:
        runner.close()


def test_local_trial_timeout_bounds_the_group_as_a_whole():
    limits = RunnerLimits(trial_timeout=1.0)
    runner = LocalRunner(as_objective_call(Heads()), workers=1, limits=limits)
    try:
        runner.submit(_group({"x": 0.1, "sleep": 30}, {"x": 0.2}))
        by_key = _run(runner, 2, lambda *a: False)
        assert {o.error for o in by_key.values()} == {"timeout after 1 s (study.trial_timeout)"}
        assert set(by_key) == {0, 1}
    finally:
        runner.close()


def _draw(params):
    return {"draw": random.random(), "x": params["x"]}


def test_local_without_run_group_runs_members_one_after_another_with_own_seeds():
    runner = LocalRunner(as_objective_call(_draw), workers=1)
    try:
        runner.submit(_group({"x": 1}, {"x": 2}, {"x": 3}, seed=40))
        by_key = _run(runner, 3, lambda *a: False)
        for key, seed in ((0, 40), (1, 41), (2, 42)):
            assert by_key[key].status == "ok"
            assert by_key[key].value == {"draw": random.Random(seed).random(), "x": key + 1.0}
    finally:
        runner.close()


def _reporters(task):
    return [CallbackReporter(t.key, lambda *a: False) for t in task.trials]


def test_execute_group_seeds_with_the_first_member():
    class Seeded(Broken):
        def run_group(self, params_list, reporters):
            return [random.random() for _ in params_list]

    task = _group({"x": 1}, {"x": 2}, seed=7)
    values = [o.value for o in execute_group(as_objective_call(Seeded()), task, _reporters(task))]
    first = random.Random(7)
    assert values == [first.random(), first.random()]


@pytest.mark.parametrize(
    ("objective", "status", "error"),
    [
        (Broken(result=[1.0]), "error", "run_group returned 1 result(s) for 3 trials"),
        (Broken(raises=RuntimeError("out of memory")), "error", "RuntimeError: out of memory"),
        (Broken(raises=optuna.TrialPruned()), "pruned", None),
    ],
)
def test_execute_group_whole_group_failures(objective, status, error):
    task = _group({"x": 1}, {"x": 2}, {"x": 3}, first=5)
    outcomes = execute_group(as_objective_call(objective), task, _reporters(task))
    assert [o.key for o in outcomes] == [5, 6, 7]
    assert {o.status for o in outcomes} == {status}
    assert {o.error for o in outcomes} == {error}


def test_execute_group_entries_pruned_and_failed_per_member():
    result = [2.0, optuna.TrialPruned("enough"), KeyError("k")]
    task = _group({"x": 1}, {"x": 2}, {"x": 3})
    outcomes = execute_group(as_objective_call(Broken(result=result)), task, _reporters(task))
    assert [(o.status, o.value, o.error) for o in outcomes] == [
        ("ok", 2.0, None),
        ("pruned", None, None),
        ("error", None, "KeyError: 'k'"),
    ]


def test_execute_group_needs_one_reporter_per_member():
    task = _group({"x": 1}, {"x": 2})
    with pytest.raises(ValueError, match="2 members but 1 reporters"):
        execute_group(as_objective_call(Broken()), task, _reporters(task)[:1])
