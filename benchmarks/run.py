"""Run tunesmith's benchmarks: ``make bench`` (= ``.venv/bin/python benchmarks/run.py``).

Each benchmark is a module in this folder with ``run(args) -> str`` (a Markdown table it also
writes under ``benchmarks/results/``). To add one, write the module and add a line to
:data:`BENCHMARKS`; ``--only NAME`` runs a subset.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS: list[tuple[str, str]] = [
    ("synthetic", "synthetic"),  # Branin + Hartmann-6 across samplers
    ("prefix_cache", "prefix_cache"),  # MiniLM last_k with and without the prefix cache
    ("group_by_length", "group_by_length"),  # MiniLM with random vs length-grouped batches
    ("finetune_demo", "finetune_demo"),  # make demo vs the BERT recipe alone (minutes)
    ("overhead", "overhead"),  # 1,000 trivial trials on SQLite: tunesmith vs plain Optuna
    ("failure_aware", "failure_aware"),  # TPE steering away from failing values
    ("kill_recovery", "kill_recovery"),  # 30 SIGKILLs of a 100-trial study, then one run
    ("batched_heads", "batched_heads"),  # K head trials in one pass vs one at a time
    ("finetune_default", "finetune_default"),  # space: default vs Optuna + transformers (long)
    ("distill", "distill"),  # 3-layer MiniLM student distilled from a 6-layer teacher
    ("finetune_images", "finetune_images"),  # the same on EfficientNet-Lite0 + digits (long)
    ("lora", "lora"),  # LoRA vs last_k with the same trial budget (MiniLM, minutes)
    ("ensemble", "ensemble"),  # top-3 ensemble vs the single winner over study seeds (minutes)
    ("lcbench", "lcbench"),  # LCBench surrogate vs SMAC/DEHB/Hyperband (own env; skips without)
]
"""(name, module in benchmarks/) pairs, run in this order."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    p.add_argument("--quick", action="store_true", help="1 seed, budgets 25/50, GP capped at 50")
    p.add_argument("--samplers", nargs="*", help="sampler names (synthetic)")
    p.add_argument("--budgets", nargs="*", type=int, help="trial budgets (synthetic)")
    p.add_argument("--seeds", nargs="*", type=int, help="seeds (synthetic, lcbench)")
    p.add_argument(
        "--parts", nargs="*", choices=["recipe", "recipe_refit", "demo"], help="(finetune_demo)"
    )
    p.add_argument("--overhead-trials", type=int, default=1000, help="(overhead)")
    p.add_argument("--overhead-window", type=int, default=50, help="(overhead)")
    p.add_argument(
        "--timeout",
        type=float,
        help="study.timeout of each run (finetune_default, finetune_images)",
    )
    p.add_argument(
        "--peer-timeout",
        type=float,
        help="the peer's search seconds (finetune_default, finetune_images)",
    )
    p.add_argument("--lora-trials", type=int, default=None, help="trials per arm (lora)")
    p.add_argument("--lora-arm", choices=["last_k", "lora"], help="run one arm only (lora)")
    p.add_argument("--lora-cache-from", help="a run folder whose cache/features to reuse (lora)")
    p.add_argument("--lora-depth", type=int, default=None, help="most layers trained (lora)")
    p.add_argument("--ensemble-trials", type=int, default=None, help="trials per seed (ensemble)")
    p.add_argument(
        "--ensemble-space", choices=["demo", "head"], default=None, help="space (ensemble)"
    )
    p.add_argument(
        "--ensemble-cache-from", help="a run folder whose cache/features the first seed reuses"
    )
    p.add_argument("--lcbench-data", type=Path, help="folder holding lcbench/ (lcbench)")
    p.add_argument("--lcbench-tasks", nargs="*", help="LCBench task ids (lcbench)")
    p.add_argument("--lcbench-methods", nargs="*", help="method names (lcbench)")
    p.add_argument(
        "--lcbench-budget", type=int, help="budget in full-length runs, x 52 epochs (lcbench)"
    )
    p.add_argument("--lcbench-workers", type=int, help="worker processes (lcbench)")
    p.add_argument("--results-dir", type=Path, default=HERE / "results", help="output folder")
    p.add_argument(
        "--gp-max-budget", type=int, default=None, help="cap GP's trials (it is the slowest)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.seeds = args.seeds if args.seeds is not None else [0]
        args.budgets = args.budgets or [25, 50]
        args.gp_max_budget = args.gp_max_budget or 50
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # GP needs torch; the other samplers do not
        pass
    sys.path.insert(0, str(HERE))
    known = [name for name, _ in BENCHMARKS]
    for name in args.only or []:
        if name not in known:
            print(f"unknown benchmark {name!r}; known: {', '.join(known)}", file=sys.stderr)
            return 2
    for name, module in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        table = importlib.import_module(module).run(args)
        print(table)
        print(f"== {name} done in {time.perf_counter() - start:.0f}s\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
