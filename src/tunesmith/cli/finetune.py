"""``tunesmith finetune CONFIG [--set key=value ...] [--out DIR] [--no-test]``: run one job.

Prints the validation and test metrics (and saves the model when ``--out`` or the config's
``output`` is given). Bad configs and bad data are :class:`TunesmithError`\\ s: ``main`` prints them
and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "fine-tune one model with one configuration and print its metrics"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``finetune`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "finetune",
        help=HELP,
        description=HELP + ". See examples/finetune_*.yaml for the config shape.",
    )
    parser.add_argument("config", metavar="CONFIG", type=Path, help="YAML fine-tuning config")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config value at a dotted path, e.g. train.optimizer.lr=1e-3 (repeatable)",
    )
    parser.add_argument(
        "--out", metavar="DIR", type=Path, default=None, help="save the fine-tuned model here"
    )
    parser.add_argument(
        "--no-test", action="store_true", help="do not read or evaluate the test split"
    )
    parser.add_argument(
        "--metrics", metavar="FILE", type=Path, default=None, help="append metrics.jsonl here"
    )
    return parser


def _format(metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return "(none)"
    return "  ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
    )


def run(args: argparse.Namespace) -> int:
    """Load and validate the config, run the job, print the metrics."""
    from tunesmith.config.finetune import load_finetune_config
    from tunesmith.engine.feature_cache import FeatureCache
    from tunesmith.engine.job import JobPlan, run_job

    cfg = load_finetune_config(args.config, args.overrides)
    plan = JobPlan(
        evaluate_test=not args.no_test,
        export_dir=args.out if args.out is not None else cfg.output,
        metrics_path=args.metrics,
    )
    # the cache is used only where it cannot change results (a frozen, deterministic prefix)
    result = run_job(cfg, plan, feature_cache=FeatureCache())
    w = sys.stdout.write
    w(f"best epoch: {result.best_epoch}  ({result.reason})\n")
    w(f"validation: {_format(result.val_metrics)}\n")
    if result.fold_metrics:
        for i, fold in enumerate(result.fold_metrics):
            w(f"  fold {i}: {_format(fold)}\n")
    w(f"test: {_format(result.test_metrics) if result.test_metrics is not None else 'not run'}\n")
    if result.export_path is not None:
        w(f"model saved to {result.export_path}\n")
    return 0
