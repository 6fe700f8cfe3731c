"""Recovery under SIGKILL, the suite's size of benchmarks/kill_recovery.py (100 trials, 30 kills
there): random SIGKILLs of the whole run, then one uninterrupted run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from optuna.trial import TrialState

from tunesmith.experiment import tune

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_recovery.py"


def test_random_sigkills_then_one_run_complete_each_trial_once():
    spec = importlib.util.spec_from_file_location("bench_kill_recovery", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    figures = module.measure(n_trials=16, kills=5, seed=1)
    assert figures["final_exit_code"] == 0
    assert figures["complete"] == 16
    assert figures["running"] == 0 and figures["waiting"] == 0
    assert figures["completed_twice"] == 0
    assert figures["kills_with_a_trial_running"] >= 1


def test_a_resumed_seeded_study_draws_new_points(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    space = {"x": {"type": "float", "low": 0, "high": 1}}
    common = {"sampler": "random", "seed": 3, "runner": "inprocess", "storage": url}
    tune(lambda p: p["x"], space, n_trials=3, study_name="again", **common)
    res = tune(lambda p: p["x"], space, n_trials=6, study_name="again", **common)
    trials = [t for t in res.study.trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 6 and len({t.params["x"] for t in trials}) == 6
