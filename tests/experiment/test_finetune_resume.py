"""Kill a fine-tuning search (SIGKILL to the whole process group) and run the command again.

``tunesmith tune`` runs as a subprocess with the local runner (one spawned worker), the tiny
custom model importable through ``PYTHONPATH``. The resumed run must keep the trials completed
before the kill, finish the budget, and still export the best model and the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import HERE, experiment, tiny_workdir, write_npz, write_yaml  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

NAME = "killed"
N_TRIALS = 6


def _tune(cwd: Path) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("tunesmith")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",  # a tiny MLP on a shared 2-core machine: threads only slow it
    }
    return subprocess.Popen(
        [str(exe), "tune", "exp.yaml", "--no-progress"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the worker too
    )


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=NAME, storage=url).get_trials(deepcopy=False)
    except Exception:  # not created yet, or the file is busy
        return []


def test_killed_search_resumes_and_exports(tiny_workdir: Path) -> None:
    from tunesmith import load_model

    paths = write_npz(tiny_workdir, n_train=800)
    mapping = experiment(
        NAME,
        paths,
        study={"runner": "local", "workers": 1, "n_trials": N_TRIALS},
        train={"epochs": 10},
        recheck={"top_k": 1, "seeds": 0},  # the re-check has its own tests; keep this one short
    )
    write_yaml(tiny_workdir / "exp.yaml", mapping)
    url = f"sqlite:///{tiny_workdir}/runs/{NAME}/study.db"

    first = _tune(tiny_workdir)
    try:
        deadline = time.time() + 240
        while sum(t.state == TrialState.COMPLETE for t in _trials(url)) < 2:
            assert first.poll() is None, first.communicate()[0]
            assert time.time() < deadline, "no two trials completed in time"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    before = _trials(url)
    kept = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}
    interrupted = [t.number for t in before if t.state == TrialState.RUNNING]
    assert 2 <= len(kept) < N_TRIALS, "killed after the search had finished: trials too fast"
    assert not (tiny_workdir / f"runs/{NAME}/best").exists()

    second = _tune(tiny_workdir)
    try:
        out, _ = second.communicate(timeout=300)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
    assert second.returncode == 0, out

    after = _trials(url)
    complete = {t.number: t.value for t in after if t.state == TrialState.COMPLETE}
    assert {n: complete.get(n) for n in kept} == kept  # same numbers, same values
    assert len(complete) == N_TRIALS
    assert all(t.state not in (TrialState.RUNNING, TrialState.WAITING) for t in after)
    by_number = {t.number: t for t in after}
    for number in interrupted:  # the trial the kill cut short: failed as dead, re-queued once
        assert by_number[number].state == TrialState.FAIL
        assert "dead" in by_number[number].user_attrs["fail_reason"]
        reruns = [r for r in after if r.user_attrs.get("requeued_from") == number]
        if not by_number[number].params:  # killed before its parameters were sampled
            assert reruns == []
            continue
        assert len(reruns) == 1 and reruns[0].state == TrialState.COMPLETE
        assert reruns[0].params == by_number[number].params
    # A resumed sampler with the same seed proposes the first run's parameters again: those
    # proposals are re-sampled, recorded as failed duplicates (never run).
    failed = [t for t in after if t.state == TrialState.FAIL and "duplicate_of" not in t.user_attrs]
    assert len(failed) == len(interrupted)

    best = tiny_workdir / f"runs/{NAME}/best"
    model = load_model(best / "model")
    x = np.load(paths["test"])["x"][:5]
    assert len(model.predict(x)) == 5 and set(model.predict(x)) <= {0, 1}
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] > 0.7 and metrics["test"]["accuracy"] > 0.7
    assert metrics["best_trial"] in complete
    assert (tiny_workdir / f"runs/{NAME}/report/report.html").is_file()
