"""Framework overhead: 1,000 trivial trials on SQLite, tunesmith against plain Optuna.

Both sides run the same trivial objective (a sum of two floats, microseconds) with the random
sampler (so the sampler's own model costs nothing that grows with the trials) on a fresh SQLite
file in a temporary folder, one trial at a time, in this process: tunesmith through
``tunesmith.tune(..., runner="inprocess")`` (the coordinator, its leases, events and stop rules),
plain Optuna through ``study.optimize``. Every objective call records the time; the cost of trial
``i`` is the time between the starts of trials ``i - 1`` and ``i`` (trial ``i - 1``'s objective,
its result recorded, trial ``i`` asked). The table gives the mean milliseconds per trial over the
window of trials ending at 100 and at 1,000 (``--overhead-window`` trials, 50 by default), and the
mean over the whole run (set-up excluded: timing starts at the first trial). What the call does
once after its last trial (recording it, closing the study; ``tunesmith.tune`` also builds its
trial table, importing pandas the first time) is the "wrap-up" column, in seconds, not spread over
the last window. The target (issue 10) is ≤ 5 ms per trial at trial 1,000. The CPU milliseconds per
trial (this process's CPU time, mean over the run) are given too: on a shared machine the wall
time of SQLite commits (disk syncs) varies from run to run, the CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MS = 5.0
N_TRIALS = 1000
SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0},
    "y": {"type": "float", "low": -5.0, "high": 5.0},
}


def _tunesmith(url: str, n: int, seed: int) -> list[float]:
    import tunesmith

    stamps: list[float] = []
    cpu: list[float] = []

    def objective(params: dict[str, Any]) -> float:
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        return float(params["x"] + params["y"])

    tunesmith.tune(
        objective,
        SPACE,
        sampler="random",
        n_trials=n,
        storage=url,
        study_name="overhead",
        runner="inprocess",
        seed=seed,
        direction="minimize",
    )
    stamps.append(time.perf_counter())
    cpu.append(time.process_time())
    return stamps, cpu


def _optuna(url: str, n: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stamps: list[float] = []
    cpu: list[float] = []

    def objective(trial: Any) -> float:
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        return trial.suggest_float("x", -5.0, 5.0) + trial.suggest_float("y", -5.0, 5.0)

    study = optuna.create_study(
        study_name="overhead",
        storage=url,
        sampler=optuna.samplers.RandomSampler(seed=seed),
        direction="minimize",
    )
    study.optimize(objective, n_trials=n)
    stamps.append(time.perf_counter())
    cpu.append(time.process_time())
    return stamps, cpu


def window_ms(stamps: list[float], end: int, width: int) -> float:
    """Mean milliseconds per trial over trials ``end - width + 1 .. end`` (1-based), the cost of
    trial ``i`` being the time from the start of trial ``i - 1`` to the start of trial ``i``."""
    # stamps[i] is the start of trial i + 1; the last stamp is the end of the run.
    lo = max(0, end - 1 - width)
    return 1000.0 * (stamps[end - 1] - stamps[lo]) / (end - 1 - lo)


def measure(name: str, fn: Any, n: int, width: int, seed: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'study.db'}"
        start = time.perf_counter()
        stamps, cpu = fn(url, n, seed)
        wall = time.perf_counter() - start
    checkpoints = [c for c in (100, n) if c <= n]
    return {
        "framework": name,
        "trials": n,
        "window": width,
        "ms_per_trial": {str(c): window_ms(stamps, c, width) for c in checkpoints},
        "ms_per_trial_mean": 1000.0 * (stamps[-1] - stamps[0]) / n,
        "cpu_ms_per_trial_mean": 1000.0 * (cpu[-1] - cpu[0]) / n,
        "setup_s": stamps[0] - start,
        "wrapup_s": stamps[-1] - stamps[-2],
        "wall_s": wall,
        "load_1m": [load_before, os.getloadavg()[0]],
    }


def _table(rows: list[dict[str, Any]], n: int) -> str:
    plain = next(r for r in rows if r["framework"] == "optuna")
    lines = [
        f"| framework | ms/trial at 100 | ms/trial at {n} | mean ms/trial | CPU ms/trial | "
        f"ratio to Optuna (at {n}) | set-up s | wrap-up s | target ≤ {TARGET_MS:g} ms at {n} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        at_n = r["ms_per_trial"][str(n)]
        met = "met" if at_n <= TARGET_MS else "not met"
        target = met if r["framework"] == "tunesmith" else "—"
        lines.append(
            f"| {r['framework']} | {r['ms_per_trial']['100']:.2f} | {at_n:.2f} | "
            f"{r['ms_per_trial_mean']:.2f} | {r['cpu_ms_per_trial_mean']:.2f} | "
            f"{at_n / plain['ms_per_trial'][str(n)]:.2f} | "
            f"{r['setup_s']:.2f} | {r['wrapup_s']:.2f} | {target} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    n = int(getattr(args, "overhead_trials", None) or N_TRIALS)
    width = int(getattr(args, "overhead_window", None) or 50)
    seeds = list(getattr(args, "seeds", None) or [0])
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        # Alternate the order so neither side always runs on a warmer machine.
        pair = [("tunesmith", _tunesmith), ("optuna", _optuna)]
        for name, fn in pair if seed % 2 == 0 else pair[::-1]:
            runs.append({**measure(name, fn, n, width, seed), "seed": seed})
    rows = []
    for name in ("tunesmith", "optuna"):
        mine = [r for r in runs if r["framework"] == name]
        med = {
            key: statistics.median(r["ms_per_trial"][key] for r in mine)
            for key in mine[0]["ms_per_trial"]
        }
        rows.append(
            {
                "framework": name,
                "ms_per_trial": med,
                "ms_per_trial_mean": statistics.median(r["ms_per_trial_mean"] for r in mine),
                "cpu_ms_per_trial_mean": statistics.median(
                    r["cpu_ms_per_trial_mean"] for r in mine
                ),
                "setup_s": statistics.median(r["setup_s"] for r in mine),
                "wrapup_s": statistics.median(r["wrapup_s"] for r in mine),
            }
        )
    table = _table(rows, n)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.json").write_text(
        json.dumps({"target_ms": TARGET_MS, "median": rows, "runs": runs}, indent=2) + "\n"
    )
    loads = [x for r in runs for x in r["load_1m"]]
    note = (
        f"\n\n{n} trivial trials (random sampler, SQLite, one at a time, in process); mean ms "
        f"per trial over the {width} trials ending at each checkpoint; median over seeds "
        f"{seeds}. 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the runs "
        f"({os.cpu_count()} CPUs).\n"
    )
    (out / "overhead.md").write_text("# Framework overhead\n\n" + table + note)
    return table + note


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead-trials", type=int, default=N_TRIALS)
    parser.add_argument("--overhead-window", type=int, default=50)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).parent / "results")
    print(run(parser.parse_args(sys.argv[1:])))
