"""Synthetic benchmark: Branin (2-D) and Hartmann-6 through tunesmith's sampler registry.

Each run is a plain in-memory Optuna study whose sampler comes from ``create_sampler`` and whose
parameters come from ``SearchSpace.suggest``, so the benchmark exercises the same code as a tuning
run. Simple regret = best value found − known global minimum.

Budgets are read as prefixes of one run of the largest budget: the samplers here do not look at the
budget (``n_trials`` only matters to ``auto`` and ``grid``), so the incumbent after 25 trials of a
100-trial run is exactly the result of a 25-trial run with the same seed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on x1 ∈ [-5, 10], x2 ∈ [0, 15]; global minimum 0.397887 (three minimisers)."""
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(*x: float) -> float:
    """Hartmann-6 on [0, 1]^6; global minimum −3.32237."""
    v = np.asarray(x, dtype=float)
    inner = np.sum(_H_A * (v - _H_P) ** 2, axis=1)
    return float(-np.sum(_H_ALPHA * np.exp(-inner)))


@dataclass(frozen=True)
class Problem:
    name: str
    fn: Callable[..., float]
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    argmin: tuple[float, ...]

    def space(self) -> dict[str, Any]:
        return {
            f"x{i}": {"type": "float", "low": lo, "high": hi}
            for i, (lo, hi) in enumerate(self.bounds)
        }


PROBLEMS = (
    Problem("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.397887, (math.pi, 2.275)),
    Problem(
        "hartmann6",
        hartmann6,
        ((0.0, 1.0),) * 6,
        -3.32237,
        (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
    ),
)
SAMPLERS = ("random", "qmc", "tpe", "gp", "cmaes")
BUDGETS = (25, 50, 100)
SEEDS = (0, 1, 2, 3, 4)


def run_one(problem: Problem, sampler_name: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One seeded study; returns the best-so-far curve and the wall time."""
    import optuna

    from tunesmith.config.search import SamplerConfig
    from tunesmith.search.samplers import create_sampler
    from tunesmith.search.space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = SearchSpace.from_config(problem.space())
    config = SamplerConfig(name=sampler_name, seed=seed)
    sampler = create_sampler(config, space, n_trials, ["minimize"])
    study = optuna.create_study(sampler=sampler, direction="minimize")
    names = space.names

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        return problem.fn(*(params[n] for n in names))

    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    seconds = time.perf_counter() - start
    values = [t.value for t in study.trials if t.value is not None]
    best = np.minimum.accumulate(values).tolist()
    return {"best_so_far": best, "seconds": seconds}


def run(args: argparse.Namespace) -> str:
    """Run the grid of (problem, sampler, seed), write JSON + Markdown, return the table."""
    samplers = args.samplers or SAMPLERS
    budgets = sorted(args.budgets or BUDGETS)
    seeds = args.seeds if args.seeds is not None else SEEDS
    caps = {"gp": args.gp_max_budget} if args.gp_max_budget else {}
    runs: list[dict[str, Any]] = []
    for problem in PROBLEMS:
        for name in samplers:
            top = min(budgets[-1], caps.get(name, budgets[-1]))
            for seed in seeds:
                out = run_one(problem, name, seed, top)
                regrets = {
                    b: out["best_so_far"][b - 1] - problem.optimum for b in budgets if b <= top
                }
                runs.append(
                    {
                        "function": problem.name,
                        "sampler": name,
                        "seed": seed,
                        "n_trials": top,
                        "seconds": round(out["seconds"], 3),
                        "regret": regrets,
                    }
                )
                print(
                    f"  {problem.name:9s} {name:6s} seed {seed}: {top} trials in "
                    f"{out['seconds']:.1f}s, regret@{top} {regrets[max(regrets)]:.4g}",
                    flush=True,
                )
    table = _table(runs, budgets)
    meta = {
        "optuna": _version("optuna"),
        "seeds": list(seeds),
        "budgets": budgets,
        "caps": caps,
        "note": "budgets are prefixes of one run of the largest budget per seed",
    }
    results = Path(getattr(args, "results_dir", None) or RESULTS)
    results.mkdir(parents=True, exist_ok=True)
    (results / "synthetic.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    header = (
        f"# Synthetic benchmark (simple regret, lower is better)\n\n"
        f"Seeds {list(seeds)}; optuna {meta['optuna']}; samplers from tunesmith's registry with "
        f"their defaults.{' GP capped at ' + str(caps['gp']) + ' trials.' if caps else ''}\n\n"
    )
    footer = (
        "\n\nWall times depend on the machine and its load; compare them only within one run.\n"
    )
    (results / "synthetic.md").write_text(header + table + footer)
    return table


def _table(runs: list[dict[str, Any]], budgets: list[int]) -> str:
    rows = [
        "| function | sampler | budget | simple regret (mean ± std) | runs | s/run (mean) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    keys = dict.fromkeys((r["function"], r["sampler"]) for r in runs)
    for function, sampler in keys:
        group = [r for r in runs if r["function"] == function and r["sampler"] == sampler]
        for r in group:  # read back from JSON, the budgets are strings
            r["regret"] = {int(k): v for k, v in r["regret"].items()}
        secs = statistics.mean(r["seconds"] for r in group)
        for b in budgets:
            vals = [r["regret"][b] for r in group if b in r["regret"]]
            if not vals:
                rows.append(f"| {function} | {sampler} | {b} | not run (capped) | 0 | |")
                continue
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            rows.append(
                f"| {function} | {sampler} | {b} | {statistics.mean(vals):.3g} ± {std:.2g} "
                f"| {len(vals)} | {secs:.2f} |"
            )
    return "\n".join(rows)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
