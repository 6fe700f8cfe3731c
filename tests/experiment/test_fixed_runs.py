"""Fixed runs: a study that runs given configurations, each with its own settings outside the
search space (the seed re-check's seeds, the final run's epoch count), resumable, no sampler."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from tunesmith.config.experiment import StudyConfig
from tunesmith.experiment.fixed import FixedRun, held_run, queue_missing
from tunesmith.experiment.runtime import run_study
from tunesmith.search.space import SearchSpace
from tunesmith.storage.study import RUN_OVERRIDES, open_study

SPACE = SearchSpace.from_config(
    {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "arch": {"type": "categorical", "choices": ["a", "b"]},
    }
)


def _config(tmp_path: Path, name: str = "fixed", **kw: Any) -> StudyConfig:
    return StudyConfig(
        name=name,
        storage=f"sqlite:///{tmp_path}/fixed.db",
        runner="inprocess",
        n_trials=1,  # a study of fixed runs has no trial budget: it runs them all
        metric="score",
        **kw,
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> dict[str, float]:
        self.calls.append(dict(params))
        return {"score": params["lr"] * params.get("seed", 1)}


RUNS = [
    FixedRun({"lr": 0.01, "arch": "a"}, {"seed": 1}),
    FixedRun({"lr": 0.01, "arch": "a"}, {"seed": 2}),
    FixedRun({"lr": 0.05, "arch": "b"}, {"seed": 1, "train.epochs": 3}),
]


def test_exactly_the_given_runs_with_their_own_settings(tmp_path: Path) -> None:
    objective = Recorder()
    study = run_study(_config(tmp_path), SPACE, objective, runs=RUNS)

    assert sorted(map(str, objective.calls)) == sorted(str(r.settings) for r in RUNS)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(study.trials) == 3 and len(done) == 3
    for t in done:  # params are the space's; the run's own settings are recorded beside them
        assert set(t.params) == {"lr", "arch"}
        assert t.user_attrs[RUN_OVERRIDES] == dict(held_run(t).overrides)
    assert sorted(held_run(t).key for t in done) == sorted(r.key for r in RUNS)


def test_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    first = Recorder()
    run_study(_config(tmp_path), SPACE, first, runs=RUNS[:2])
    again = Recorder()
    study = run_study(_config(tmp_path), SPACE, again, runs=RUNS)  # one run more
    assert again.calls == [RUNS[2].settings]
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    nothing = Recorder()
    run_study(_config(tmp_path), SPACE, nothing, runs=RUNS)
    assert nothing.calls == []


def test_a_failed_run_is_queued_again(tmp_path: Path) -> None:
    def flaky(params: dict[str, Any]) -> float:
        if params["seed"] == 2 and not flaky.failed:  # type: ignore[attr-defined]
            flaky.failed = True  # type: ignore[attr-defined]
            raise RuntimeError("out of memory")
        return 1.0

    flaky.failed = False  # type: ignore[attr-defined]
    study = run_study(_config(tmp_path), SPACE, flaky, runs=RUNS)
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 1
    study = run_study(_config(tmp_path), SPACE, flaky, runs=RUNS)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(held_run(t).key for t in done) == sorted(r.key for r in RUNS)


def test_queue_missing_counts_held_runs_once(tmp_path: Path) -> None:
    study = open_study("q", f"sqlite:///{tmp_path}/q.db", ["maximize"])
    twice = [RUNS[0], RUNS[0], RUNS[1]]
    assert queue_missing(study, twice) == 3  # the same run asked twice is run twice
    assert queue_missing(study, twice) == 0
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(held_run(t).key for t in waiting) == sorted(r.key for r in twice)


def test_a_fixed_study_never_asks_the_sampler(tmp_path: Path) -> None:
    calls = Recorder()
    cfg = _config(tmp_path, sampler={"name": "tpe"})
    study = run_study(cfg, SPACE, calls, runs=[])
    assert study.trials == [] and calls.calls == []


def test_objectives_that_seed_themselves_get_no_study_seed(tmp_path: Path) -> None:
    """One seed owner: the study seeds a trial's RNGs unless the objective seeds itself."""

    class Draw:
        seeds_itself = False

        def __call__(self, params: dict[str, Any]) -> float:
            return random.random()

    class SelfSeeded(Draw):
        seeds_itself = True

    def draws(objective: Draw, outer_seed: int, name: str) -> list[float]:
        random.seed(outer_seed)
        cfg = StudyConfig(name=name, storage="memory", runner="inprocess", n_trials=2, seed=7)
        study = run_study(cfg, SPACE, objective)
        return [t.value for t in study.trials]

    assert draws(Draw(), 1, "a") == draws(Draw(), 2, "b")  # seeded by the study
    assert draws(SelfSeeded(), 1, "c") != draws(SelfSeeded(), 2, "d")  # left alone


def test_an_abandoned_run_is_requeued_with_its_own_settings(tmp_path: Path) -> None:
    """A fixed run whose coordinator died mid-trial runs again with its seed, exactly once."""
    from tunesmith.storage.leases import Owner, ask_owned

    cfg = _config(tmp_path)
    study = open_study(cfg.name, cfg.storage_url(), ["maximize"])
    queue_missing(study, RUNS[:1])
    dead = Owner(pid=2**22 + 12345)  # no such process
    trial = ask_owned(study, dead.attrs(0.0), 1.0)
    SPACE.suggest(trial)  # the dead coordinator had started it
    objective = Recorder()
    study = run_study(cfg, SPACE, objective, runs=RUNS[:1])
    assert objective.calls == [RUNS[0].settings]
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "FAIL"]
