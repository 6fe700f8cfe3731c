"""Recovery under SIGKILL: a 100-trial, 4-worker SQLite study (random sampler) whose whole process
group is killed with SIGKILL at 30 random moments, then run once more without interruption.

Each round starts ``tunesmith tune`` in a session of its own and kills the group after a random
delay (uniform over 0.3-4 s, seeded; a round's start-up takes about 1.5 s, so some kills land
during start-up or reconciliation, most while trials run). Reported: trials complete (target:
exactly 100), RUNNING (target 0), parameter sets completed more than once (target 0), trials
failed as abandoned and re-queued, kills that caught a trial RUNNING, and the wall time.

The same rounds with SIGTERM instead (a graceful stop) also count the rounds that exited with 143
and the RUNNING trials found right after each round (target 0: a signal never leaves one).

Run: ``.venv/bin/python benchmarks/run.py --only kill_recovery`` (``--quick``: 20 trials, 6 kills).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

OBJECTIVE = """
import random
import time

def work(params):
    time.sleep(random.uniform(0.6, 1.8))
    return params["x"] + params["y"]
"""

CONFIG = """
study:
  name: kills
  sampler: {{name: random, seed: 0}}
  n_trials: {n_trials}
  workers: 4
objective: kill_obj:work
space:
  x: {{type: float, low: 0.0, high: 1.0}}
  y: {{type: float, low: 0.0, high: 1.0}}
"""


def _launch(cwd: Path) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("tunesmith")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path])}
    return subprocess.Popen(
        [str(exe), "-q", "tune", "exp.yaml", "--no-progress"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )


def _running(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def measure(
    n_trials: int = 100, kills: int = 30, seed: int = 0, sig: int = signal.SIGKILL
) -> dict[str, Any]:
    """Run the kill rounds and the final run in a temporary folder; return the figures."""
    import optuna
    from optuna.trial import TrialState

    rng = random.Random(seed)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "kill_obj.py").write_text(OBJECTIVE)
        (cwd / "exp.yaml").write_text(CONFIG.format(n_trials=n_trials))
        db = cwd / "runs/kills/study.db"
        caught_running = finished_early = left_running = exit_143 = 0
        for _ in range(kills):
            proc = _launch(cwd)
            try:
                proc.wait(timeout=rng.uniform(0.3, 4.0))
                finished_early += 1  # the study ended before this round's kill
            except subprocess.TimeoutExpired:
                caught_running += _running(db) > 0
                if sig == signal.SIGKILL:
                    os.killpg(proc.pid, sig)
                else:  # what docker stop or a batch scheduler does: the main process
                    os.kill(proc.pid, sig)
                exit_143 += proc.wait(timeout=120) == 128 + sig
                left_running += _running(db)
        final = _launch(cwd)
        code = final.wait(timeout=1800)
        trials = optuna.load_study(study_name="kills", storage=f"sqlite:///{db}").trials
    states = Counter(t.state for t in trials)
    done = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    twice = sum(n - 1 for n in Counter(done).values() if n > 1)
    abandoned = [t for t in trials if t.state == TrialState.FAIL]
    return {
        "n_trials": n_trials,
        "kills": kills,
        "signal": signal.Signals(sig).name,
        "kills_with_a_trial_running": caught_running,
        "rounds_that_finished_before_the_kill": finished_early,
        "final_exit_code": code,
        **(
            {"rounds_exiting_128_plus_signal": exit_143, "running_right_after_rounds": left_running}
            if sig != signal.SIGKILL
            else {}
        ),
        "complete": states[TrialState.COMPLETE],
        "running": states[TrialState.RUNNING],
        "waiting": states[TrialState.WAITING],
        "failed_abandoned": len(abandoned),
        "requeued": sum(bool(t.user_attrs.get("requeued")) for t in abandoned),
        "completed_twice": twice,
        "trials_in_storage": len(trials),
        "wall_s": round(time.monotonic() - start, 1),
    }


def run(args: argparse.Namespace) -> str:
    quick = bool(getattr(args, "quick", False))
    size = (20, 6) if quick else (100, 30)
    runs = [measure(*size), measure(*size, sig=signal.SIGTERM)]
    oks = [
        f["complete"] == f["n_trials"]
        and f["running"] == 0
        and f["completed_twice"] == 0
        and f["final_exit_code"] == 0
        and f.get("running_right_after_rounds", 0) == 0
        for f in runs
    ]
    keys = list(dict.fromkeys(k for f in runs for k in f))
    rows = "\n".join(f"| {k} | " + " | ".join(str(f.get(k, "")) for f in runs) + " |" for k in keys)
    md = (
        "# Recovery under SIGKILL and SIGTERM\n\n"
        f"{size[1]} SIGKILLs of the whole `tunesmith tune` process group (and, in the second "
        f"column, {size[1]} SIGTERMs of its main process) at random moments of a {size[0]}-trial, "
        "4-worker SQLite study (random sampler), then one uninterrupted run. Target: exactly "
        "n_trials complete, none RUNNING (after the SIGTERM rounds too), no parameter set "
        f"completed twice: SIGKILL **{'met' if oks[0] else 'NOT met'}**, SIGTERM "
        f"**{'met' if oks[1] else 'NOT met'}**.\n\n"
        "| figure | SIGKILL | SIGTERM |\n|---|---|---|\n" + rows + "\n"
    )
    out = Path(getattr(args, "results_dir", RESULTS))
    out.mkdir(parents=True, exist_ok=True)
    payload = [{**f, "met": ok} for f, ok in zip(runs, oks, strict=True)]
    (out / "kill_recovery.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "kill_recovery.md").write_text(md)
    return md


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    print(run(parser.parse_args()))
