"""How well a sampler steers away from failing configurations (issue 10, item 7).

A study of 40 trials on ``kind`` ∈ {a, b, c, d, e} × ``x`` ∈ [0, 1], maximising
``{a: 0.3, b: 0.2, c: 0.1}[kind] + x``; ``kind`` d and e (a fixed 40 % of the values) always fail.
Each way of showing failures to TPE (tunesmith's defaults: multivariate, group, constant liar;
6 start-up trials) runs 5 seeds; the table gives the share of trials 10–39 (after the start-up)
that proposed a failing value, mean over seeds (random search: 40 % in expectation):

* ``ignore`` — plain Optuna: failed trials are invisible to the sampler;
* ``worst`` — failed trials shown as complete at the worst observed value;
* ``refuse`` — proposals near earlier failures refused with their estimated risk;
* ``both`` — worst value and refusal (tunesmith's default for TPE and GP).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

MODES = ("ignore", "worst", "refuse", "both")
N_TRIALS = 40
SPACE = {
    "kind": {"type": "categorical", "choices": ["a", "b", "c", "d", "e"]},
    "x": {"type": "float", "low": 0.0, "high": 1.0},
}
FAILING = {"d", "e"}


def _value(params: dict[str, Any]) -> float | None:
    if params["kind"] in FAILING:
        return None
    return {"a": 0.3, "b": 0.2, "c": 0.1}[params["kind"]] + params["x"]


def one_run(mode: str, seed: int, n: int = N_TRIALS) -> float:
    import optuna

    from tunesmith.search.failures import failure_aware
    from tunesmith.search.space import SearchSpace

    space = SearchSpace.from_config(SPACE)
    base = optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=6
    )
    sampler: Any = base
    if mode != "ignore":
        sampler = failure_aware(base, seed)
        sampler._worst = mode in ("worst", "both")
        sampler._refuse = mode in ("refuse", "both")
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(n):
        trial = study.ask()
        value = _value(space.suggest(trial))
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    later = [t for t in study.trials if t.number >= 10]
    return sum(t.params["kind"] in FAILING for t in later) / len(later)


def run(args: argparse.Namespace) -> str:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    seeds = list(getattr(args, "seeds", None) or range(5))
    rows = []
    for mode in MODES:
        shares = [one_run(mode, s) for s in seeds]
        rows.append({"mode": mode, "shares": shares, "mean": statistics.fmean(shares)})
    lines = [
        "| failures shown to TPE as | failing share after start-up (mean) | per seed |",
        "|---|---|---|",
    ]
    for r in rows:
        per = ", ".join(f"{s:.0%}" for s in r["shares"])
        lines.append(f"| {r['mode']} | {r['mean']:.0%} | {per} |")
    table = "\n".join(lines)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "failure_aware.json").write_text(json.dumps({"seeds": seeds, "rows": rows}, indent=2))
    note = f"\n\n{N_TRIALS} trials, 40 % of one categorical's values fail; seeds {seeds}.\n"
    (out / "failure_aware.md").write_text("# Failure-aware sampling\n\n" + table + note)
    return table + note


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).parent / "results")
    print(run(parser.parse_args()))
