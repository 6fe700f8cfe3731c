"""``tunesmith tune CONFIG``: run (or resume) the study an experiment config describes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "run or resume the hyperparameter search described by a YAML config"


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "tune",
        help=HELP,
        description=HELP + ". Running the same command again resumes the study.",
    )
    p.add_argument("config", metavar="CONFIG", help="experiment YAML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value at a dotted path (repeatable), e.g. study.n_trials=50",
    )
    p.add_argument("--storage", metavar="URL", help="storage URL (study.storage)")
    p.add_argument("--study", metavar="NAME", help="study name (study.name)")
    p.add_argument("--n-trials", type=int, metavar="N", help="trial budget (study.n_trials)")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds (study.timeout)")
    p.add_argument("--workers", type=int, metavar="N", help="parallel workers (study.workers)")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        metavar="G",
        help="GPU share per trial: 0.5 packs two trials per GPU, 2 gives two "
        "(study.gpus_per_trial)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="run trials on this Ray cluster, e.g. 10.0.0.1:6379 (study.ray_address; "
        "implies runner: ray)",
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "study.storage": args.storage,
        "study.name": args.study,
        "study.n_trials": args.n_trials,
        "study.timeout": args.timeout,
        "study.workers": args.workers,
        "study.gpus_per_trial": args.gpus_per_trial,
        "study.ray_address": args.ray_address,
    }
    values = {k: v for k, v in flags.items() if v is not None}
    if args.ray_address is not None:  # the flag implies the Ray runner, whatever the file says
        values["study.runner"] = "ray"
    return values


def run(args: argparse.Namespace) -> int:
    from tunesmith.cli.progress import progress_display
    from tunesmith.config.experiment import load_experiment
    from tunesmith.errors import ConfigError
    from tunesmith.experiment.kinds import KINDS, prepare
    from tunesmith.experiment.kinds import run as run_prepared
    from tunesmith.reports.summary import summarise, write_summary

    config = load_experiment(args.config, args.overrides, _flag_values(args))
    try:
        prepared = prepare(config)  # validates everything; writes nothing
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    with progress_display(sys.stdout, enabled=not args.no_progress) as on_event:
        study = run_prepared(prepared, on_event)
    result = summarise(study, prepared.study.storage_url())
    write_summary(result, sys.stdout, leaderboard=KINDS[prepared.kind].leaderboard)
    return 0
