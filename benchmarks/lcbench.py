"""Multi-fidelity quality on YAHPO Gym's LCBench surrogate: tunesmith against four peers.

Every method gets the same epoch budget per run (``--lcbench-budget`` full-length runs' worth,
default 20 x 52 = 1,040 epochs) on each of 8 LCBench tasks with 5 seeds, and the best validation
accuracy (``val_accuracy``, percent, maximised) it has seen after 25, 50 and 100 % of the budget
is read from one run (``lcbench_surrogate.Ledger``: a configuration is charged only the epochs it
had not trained yet, for every method alike). Methods:

* ``tunesmith_default``: ``tunesmith.tune(objective, space, n_trials=budget // 52)`` with its
  defaults: ``sampler: auto`` (GP for 20 trials on 7 numeric parameters) and ``pruner: none``
  (tune()'s default); the objective reports every epoch through the reporter.
* ``tunesmith_tpe_median``: ``sampler="tpe", pruner="median"``, as the README's Python example
  and the demo use per-epoch pruning (median pruner, Optuna's default options).
* ``tunesmith_tpe_hyperband``: tunesmith's TPE (multivariate, group) with ``pruner: hyperband``
  (min_resource 1, max_resource 52, reduction_factor 3).
* the peers of ``peers/lcbench_peers.py``: Optuna TPE + Hyperband, SMAC3's multi-fidelity facade,
  DEHB, and one epoch for many random configurations then the top k to full length.

tunesmith's cost-aware schedule (``search/cost.py``) chooses among fine-tuning *freezing
strategies* by measured seconds; a Python objective has no strategies, so it does not apply here.
The tunesmith runs use ``runner="inprocess"`` and in-memory storage; a run stops when an event
handler sees the ledger spent. Target (issue 10): each tunesmith row >= the best peer at every
budget share, on the median over seeds, on every task. Skips (with a message) when the
benchmark-only packages or the surrogate's data are missing. Run in the benchmark's environment:
``/path/to/venv-lcbench/bin/python benchmarks/run.py --only lcbench``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
TASKS = ["3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104"]
"""The first 8 task ids in YAHPO's lcbench config space, fixed before any run."""
SEEDS = [0, 1, 2, 3, 4]
FRACTIONS = (0.25, 0.5, 1.0)
OURS = ("tunesmith_default", "tunesmith_tpe_median", "tunesmith_tpe_hyperband")
PEER_NAMES = ("optuna_tpe_hyperband", "smac_mf", "dehb", "one_epoch_top_k")
NEEDS = ("yahpo_gym", "smac", "dehb", "onnxruntime", "ConfigSpace", "loguru")


def _tunesmith(ledger: Any, seed: int, variant: str) -> None:
    from lcbench_surrogate import MAX_EPOCH, BudgetSpent, tunesmith_space

    import tunesmith

    def objective(params: dict[str, Any], reporter: Any) -> float:
        best = float("-inf")
        for epoch in range(1, MAX_EPOCH + 1):
            curve = ledger.train(params, epoch)
            if len(curve) < epoch:  # the budget ended: the run stops after this trial
                break
            best = max(best, curve[-1])
            if reporter.report(epoch, curve[-1]):
                break
        return best

    def on_event(event: Any) -> None:
        if event.kind == "trial_finished" and ledger.exhausted:
            raise BudgetSpent

    common: dict[str, Any] = {"runner": "inprocess", "seed": seed, "on_event": on_event}
    if variant == "tunesmith_default":
        kwargs: dict[str, Any] = {"n_trials": ledger.budget // MAX_EPOCH}
    elif variant == "tunesmith_tpe_median":
        kwargs = {"sampler": "tpe", "pruner": "median", "n_trials": ledger.budget}
    else:
        hyperband = {"min_resource": 1, "max_resource": MAX_EPOCH, "reduction_factor": 3}
        kwargs = {
            "sampler": "tpe",
            "pruner": {"name": "hyperband", "options": hyperband},
            "n_trials": ledger.budget,
        }
    with contextlib.suppress(BudgetSpent):
        tunesmith.tune(objective, tunesmith_space(), **kwargs, **common)


def _one(job: tuple[str, str, int, int, str]) -> dict[str, Any]:
    """One (method, task, seed) run in a worker process; its anytime results."""
    method, task, seed, budget, data = job
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    from lcbench_peers import PEERS
    from lcbench_surrogate import Ledger, open_benchmark

    bench = open_benchmark(Path(data))
    bench.set_instance(task)
    ledger = Ledger(bench, task, budget)
    start = time.process_time()
    wall = time.perf_counter()
    if method in OURS:
        _tunesmith(ledger, seed, method)
    else:
        PEERS[method](ledger, seed)
    return {
        "method": method,
        "task": task,
        "seed": seed,
        "budget": budget,
        "spent": ledger.spent,
        "evaluations": ledger.evaluations,
        "configs": ledger.configs,
        "best": {str(f): ledger.best_at(f) for f in FRACTIONS},
        "cpu_s": round(time.process_time() - start, 2),
        "wall_s": round(time.perf_counter() - wall, 2),
    }


def missing() -> str | None:
    """Why the benchmark cannot run here, or None."""
    import importlib.util

    absent = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if absent:
        return (
            f"lcbench skipped: this Python ({sys.executable}) lacks {', '.join(absent)}; make the "
            "benchmark-only environment of benchmarks/README.md (requirements-lcbench.txt) and "
            "run benchmarks/run.py --only lcbench with its python"
        )
    return None


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(rows: list[dict[str, Any]], methods: list[str], tasks: list[str]) -> dict[str, Any]:
    """Median over seeds per (fraction, task, method) and the target's verdict per tunesmith row."""
    med: dict[str, dict[str, dict[str, float]]] = {}
    for f in FRACTIONS:
        med[str(f)] = {
            t: {
                m: _median([r["best"][str(f)] for r in rows if r["method"] == m and r["task"] == t])
                for m in methods
            }
            for t in tasks
        }
    peers = [m for m in methods if m not in OURS]
    verdicts: dict[str, dict[str, Any]] = {}
    for ours in [m for m in methods if m in OURS]:
        cells = [
            (f, t, med[f][t][ours] - max(med[f][t][p] for p in peers)) for f in med for t in tasks
        ]
        verdicts[ours] = {
            "cells_met": sum(gap >= 0 for *_, gap in cells),
            "cells": len(cells),
            "met": all(gap >= 0 for *_, gap in cells),
            "worst_gap": min(gap for *_, gap in cells),
        }
    return {"median": med, "verdicts": verdicts}


def _mean(med: dict[str, Any], f: str, tasks: list[str], method: str) -> float:
    return statistics.mean(med[f][t][method] for t in tasks)


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    methods, tasks = s["methods"], s["tasks"]
    med = result["summary"]["median"]
    lines = [
        "# LCBench multi-fidelity quality (YAHPO Gym surrogate)",
        "",
        f"Best `val_accuracy` (%) seen after 25 / 50 / 100 % of {s['budget']} epochs "
        f"({s['budget'] // 52} full-length runs' worth) per run; median over seeds {s['seeds']}; "
        f"tasks {', '.join(tasks)}{' (reduced)' if s['reduced'] else ''}. Higher is better. "
        "`mean` is the mean over tasks of the medians; `rank` the mean rank per task (1 = best).",
        "",
    ]
    peers = [m for m in methods if m not in OURS]
    for f in med:
        lines += [f"## {float(f) * 100:.0f} % of the budget", ""]
        lines += ["| task | " + " | ".join(methods) + " | best peer |"]
        lines += ["|---" * (len(methods) + 2) + "|"]
        ranks: dict[str, list[float]] = {m: [] for m in methods}
        for t in tasks:
            row = med[f][t]
            order = sorted(methods, key=lambda m: -row[m])
            for m in methods:
                ranks[m].append(1 + sum(row[o] > row[m] for o in order))
            best_peer = max(peers, key=lambda p: row[p])
            cells = " | ".join(f"{row[m]:.2f}" for m in methods)
            lines.append(f"| {t} | {cells} | {best_peer} |")
        means = " | ".join(f"{statistics.mean(med[f][t][m] for t in tasks):.2f}" for m in methods)
        lines.append(f"| mean | {means} | |")
        lines.append(
            "| rank | " + " | ".join(f"{statistics.mean(ranks[m]):.2f}" for m in methods) + " | |"
        )
        lines.append("")
    lines += ["## Target: tunesmith >= best peer at every budget share (median over seeds)", ""]
    for ours, v in result["summary"]["verdicts"].items():
        word = "met" if v["met"] else "NOT met"
        on_mean = [
            f"{float(f) * 100:.0f} %: {_mean(med, f, tasks, ours):.2f} vs "
            f"{max(_mean(med, f, tasks, p) for p in peers):.2f}"
            for f in med
        ]
        lines.append(
            f"- `{ours}`: {word} ({v['cells_met']} of {v['cells']} task x budget cells; worst "
            f"gap to the best peer {v['worst_gap']:+.2f} points). On the mean over tasks, against "
            f"the best peer's mean: {'; '.join(on_mean)}"
        )
    cpu = {m: sum(r["cpu_s"] for r in result["runs"] if r["method"] == m) for m in methods}
    lines += [
        "",
        "CPU seconds per method, all runs: "
        + ", ".join(f"{m} {c:.0f}" for m, c in cpu.items())
        + (
            f". Whole benchmark: {s['wall_s']:.0f} s wall with {s['workers']} worker process(es)."
            if s["workers"]
            else ". Tables rebuilt from the finished runs of a run cut short."
        ),
    ]
    return "\n".join(lines) + "\n"


def run(args: Any) -> str:
    reason = missing()
    data = Path(getattr(args, "lcbench_data", None) or HERE.parent.parent / "shared/data/yahpo")
    if reason is None and not (data / "lcbench" / "model.onnx").is_file():
        reason = f"lcbench skipped: no surrogate at {data}/lcbench (give --lcbench-data DIR)"
    if reason is not None:
        return reason  # run.py prints it
    tasks = list(getattr(args, "lcbench_tasks", None) or TASKS)
    seeds = list(args.seeds) if getattr(args, "seeds", None) else SEEDS
    methods = list(getattr(args, "lcbench_methods", None) or (*OURS, *PEER_NAMES))
    budget = 52 * int(getattr(args, "lcbench_budget", None) or 20)
    workers = int(getattr(args, "lcbench_workers", None) or 1)
    # seed-major: a run cut short still has every task for the seeds it finished
    jobs = [(m, t, s, budget, str(data)) for s in seeds for t in tasks for m in methods]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "lcbench_partial.json"  # every finished run, until the tables are written
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for i, row in enumerate(pool.map(_one, jobs), 1):
            rows.append(row)
            partial.write_text(json.dumps(rows))
            if i % len(methods) == 0:
                print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - start:.0f}s", flush=True)
    table = write_results(rows, out, workers, time.perf_counter() - start)
    partial.unlink()
    return table


def write_results(rows: list[dict[str, Any]], out: Path, workers: int, wall_s: float) -> str:
    """``lcbench.json`` and ``lcbench.md`` from the finished runs; a seed is kept only when
    every (task, method) of it finished (a run cut short: the seeds it completed)."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    done = {(r["seed"], r["task"], r["method"]) for r in rows}
    seeds = sorted(
        s
        for s in {r["seed"] for r in rows}
        if all((s, t, m) in done for t in tasks for m in methods)
    )
    rows = [r for r in rows if r["seed"] in seeds]
    settings = {
        "budget": rows[0]["budget"],
        "tasks": tasks,
        "seeds": seeds,
        "methods": methods,
        "metric": "val_accuracy",
        "workers": workers,
        "reduced": len(tasks) < 8 or len(seeds) < 5,
        "wall_s": wall_s,
    }
    result = {"settings": settings, "summary": summarise(rows, methods, tasks), "runs": rows}
    (out / "lcbench.json").write_text(json.dumps(result, indent=1))
    table = markdown(result)
    (out / "lcbench.md").write_text(table)
    return table


if __name__ == "__main__":  # tables from a run cut short: lcbench.py results/lcbench_partial.json
    source = Path(sys.argv[1])
    print(write_results(json.loads(source.read_text()), source.parent, 0, float("nan")))
