"""The demo search against the best-known default recipe run alone, on the same data.

Two parts, each timed on this machine and written to ``results/finetune_demo.json``:

* ``recipe``: the BERT paper's usual fine-tuning recipe (all layers, AdamW lr 3e-5, batch 32,
  3 epochs, 10% warmup then linear decay, weight decay 0.01; the first of tunesmith's text
  recipes) run alone as one job on the demo's data, evaluated once on the test split;
* ``recipe_refit``: the same recipe treated as the demo treats its winner: trained on train +
  validation for as many epochs as its best epoch in ``recipe`` (2), the last epoch kept, tested
  once. It answers whether the demo wins only by retraining on more data;
* ``demo``: ``tunesmith tune examples/demo.yaml`` as ``make demo`` runs it, in a fresh folder;
  its final test score is read from the study and its output kept in ``demo_output.txt``.

Both use the demo config's model and data sections, so the splits are the same examples.
Run: ``.venv/bin/python benchmarks/run.py --only finetune_demo [--parts recipe recipe_refit demo]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / "examples" / "demo.yaml"


def _demo_job() -> dict[str, Any]:
    from tunesmith.config.experiment import load_experiment
    from tunesmith.experiment.finetune.pipeline import job_base

    return job_base(load_experiment(DEMO))


def run_recipe(refit_epochs: int | None = None) -> dict[str, Any]:
    """Train the first text recipe alone on the demo's data; test it once.

    ``refit_epochs``: train on train + validation for that many epochs instead (last epoch kept).
    """
    import torch

    from tunesmith.config.loader import set_dotted
    from tunesmith.engine.feature_cache import FeatureCache
    from tunesmith.engine.job import JobPlan, run_job
    from tunesmith.experiment.finetune.objective import validate_job
    from tunesmith.search.defaults import recipes

    torch.set_num_threads(os.cpu_count() or 1)
    job = _demo_job()
    recipe = recipes("hf_text")[0]
    if refit_epochs is not None:
        recipe = {**recipe, "train.epochs": refit_epochs}
    for key, value in recipe.items():
        job = set_dotted(job, key, value)
    cfg = validate_job(job, "recipe job")
    start = time.perf_counter()
    plan = JobPlan(evaluate_test=True, refit_on_validation=refit_epochs is not None)
    result = run_job(cfg, plan, feature_cache=FeatureCache())
    seconds = time.perf_counter() - start
    metric = cfg.train.resolved_metric(cfg.data.task)
    return {
        "recipe": recipe,
        "metric": metric,
        # after a refit the validation split was trained on: its score says nothing
        "validation": result.val_metrics.get(metric) if refit_epochs is None else None,
        "test": (result.test_metrics or {}).get(metric),
        "best_epoch": result.best_epoch,
        "seconds": round(seconds, 1),
        "load_1m": os.getloadavg()[0],
    }


def run_demo() -> dict[str, Any]:
    """``tunesmith tune examples/demo.yaml`` in a fresh folder, timed; read its final record."""
    import optuna

    tunesmith = Path(sys.executable).parent / "tunesmith"
    with tempfile.TemporaryDirectory(prefix="tunesmith-demo-") as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [str(tunesmith), "tune", str(DEMO), "--no-progress"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            # as `make demo` runs it: benchmarks/run.py pins OMP_NUM_THREADS=1 for the samplers
            env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"demo failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        db = next(Path(tmp, "runs").glob("*/study.db"))
        name = db.parent.name
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
        final = study.user_attrs["final"]
        states = [t.state.name for t in study.trials]
    metric = final["metric"]
    return {
        "metric": metric,
        "validation": final["validation"].get(metric),
        "test": final["test"].get(metric),
        "best_trial": final["best_trial"],
        "params": final["params"],
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "seconds": round(seconds, 1),
        "load_1m": os.getloadavg()[0],
        "stdout": proc.stdout,
    }


def _table(results: dict[str, Any]) -> str:
    lines = [
        "| run | validation | test | wall time (s) | notes |",
        "|---|---|---|---|---|",
    ]
    rec = results.get("recipe")
    if rec:
        lines.append(
            f"| BERT recipe alone (full, lr 3e-5, bs 32, 3 epochs) | {rec['validation']:.4f} | "
            f"{rec['test']:.4f} | {rec['seconds']} | best epoch {rec['best_epoch']} |"
        )
    refit = results.get("recipe_refit")
    if refit:
        lines.append(
            f"| same recipe retrained on train + validation, {refit['recipe']['train.epochs']} "
            f"epochs | - | {refit['test']:.4f} | {refit['seconds']} | validation trained on |"
        )
    demo = results.get("demo")
    if demo:
        lines.append(
            f"| `make demo` search | {demo['validation']:.4f} | {demo['test']:.4f} | "
            f"{demo['seconds']} | trials {demo['trials']}, winner {demo['params']} |"
        )
    lines.append("")
    lines.append(f"Machine: {os.cpu_count()} cores; metric: accuracy on the same test split.")
    return "\n".join(lines)


def run(args: Any) -> str:
    parts = getattr(args, "parts", None) or ["recipe", "recipe_refit", "demo"]
    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "finetune_demo.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for part in parts:
        if part == "recipe":
            results[part] = run_recipe()
        elif part == "recipe_refit":
            best = (results.get("recipe") or {}).get("best_epoch")
            if best is None:
                raise RuntimeError("run --parts recipe first: the refit uses its best epoch")
            results[part] = run_recipe(refit_epochs=int(best) + 1)
        else:
            results[part] = run_demo()
            (out_dir / "demo_output.txt").write_text(results[part].pop("stdout"))
        path.write_text(json.dumps(results, indent=2, default=str))
    table = _table(results)
    (out_dir / "finetune_demo.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="*", choices=["recipe", "recipe_refit", "demo"])
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    print(run(p.parse_args()))
