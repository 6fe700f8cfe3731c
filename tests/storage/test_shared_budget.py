"""Several coordinators on one PostgreSQL study never exceed n_trials between them.

Four `tunesmith tune` processes start together on one 200-trial study: the budget check and the
new trial are one step under the study's advisory lock, so exactly 200 complete (before the lock,
201 did), none twice, none left RUNNING.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.storage.study import delete_study

OBJECTIVE = """
import time

def quick(params):
    time.sleep(0.005)
    return params["x"]
"""

CONFIG = """
study:
  name: {name}
  storage: {url}
  sampler: {{name: random}}
  n_trials: 200
  runner: inprocess
objective: quick_obj:quick
space:
  x: {{type: float, low: 0.0, high: 1.0}}
"""


@pytest.mark.postgres
def test_four_coordinators_share_a_200_trial_budget_exactly(tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_study import _postgres_url

    url = _postgres_url()
    name = f"shared-{uuid.uuid4().hex[:8]}"
    (tmp_path / "quick_obj.py").write_text(OBJECTIVE)
    (tmp_path / "exp.yaml").write_text(CONFIG.format(name=name, url=url))
    exe = Path(sys.executable).with_name("tunesmith")
    # the study exists before the four start, as when one host created it earlier
    first = subprocess.run(
        [str(exe), "tune", "exp.yaml", "--no-progress", "--n-trials", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    try:
        procs = [
            subprocess.Popen(
                [str(exe), "-q", "tune", "exp.yaml", "--no-progress"],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        outs = [p.communicate(timeout=600)[0] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, outs
        trials = optuna.load_study(study_name=name, storage=url).trials
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == 200, len(states)
        assert len(trials) == 200
        assert TrialState.RUNNING not in states
        assert len({t.params["x"] for t in trials}) == 200  # no parameter set ran twice
        owners = {t.user_attrs["owner"]["run"] for t in trials}
        assert len(owners) >= 3  # the coordinators really shared the work
    finally:
        delete_study(name, url)


def _race(url: str, budget: int, callers: int) -> int:
    """``callers`` threads ask for a trial at the same instant; return how many trials exist."""
    import threading

    from tunesmith.storage.leases import Owner, ask_owned
    from tunesmith.storage.study import make_storage

    name = f"race-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=make_storage(url))
    barrier = threading.Barrier(callers)

    def ask() -> None:
        study = optuna.load_study(study_name=name, storage=make_storage(url))
        barrier.wait()
        ask_owned(study, Owner().attrs(0.0), 1e12, budget)

    try:
        threads = [threading.Thread(target=ask) for _ in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(optuna.load_study(study_name=name, storage=url).trials)
    finally:
        delete_study(name, url)


@pytest.mark.postgres
def test_budget_holds_when_many_ask_at_once_on_postgres():
    sys.path.insert(0, str(Path(__file__).parent))
    from test_study import _postgres_url

    url = _postgres_url()
    for _ in range(3):
        assert _race(url, budget=2, callers=8) == 2


def test_budget_holds_when_many_ask_at_once_on_sqlite(tmp_path: Path):
    for i in range(3):
        assert _race(f"sqlite:///{tmp_path}/r{i}.db", budget=2, callers=8) == 2
