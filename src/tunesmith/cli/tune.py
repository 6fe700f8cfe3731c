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
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def _flag_values(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "study.storage": args.storage,
        "study.name": args.study,
        "study.n_trials": args.n_trials,
        "study.timeout": args.timeout,
        "study.workers": args.workers,
    }
    return {k: v for k, v in flags.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from tunesmith.cli.progress import progress_display
    from tunesmith.config.experiment import load_experiment
    from tunesmith.errors import ConfigError
    from tunesmith.experiment import prepare_experiment, run_study

    config = load_experiment(args.config, args.overrides, _flag_values(args))
    try:
        prepared = prepare_experiment(config)  # validates everything; writes nothing
    except ConfigError as exc:
        raise ConfigError(f"{args.config}: {exc}") from None
    if config.objective_kind == "finetune":
        from tunesmith.cli.finetune_summary import print_finetune_summary
        from tunesmith.experiment.pipeline import run_finetune

        with progress_display(sys.stdout, enabled=not args.no_progress) as on_event:
            study = run_finetune(config, on_event=on_event, prepared=prepared)
        _summary(study, config.study.storage_url())
        print_finetune_summary(study, sys.stdout)
        return 0
    study_cfg, space, objective = prepared
    with progress_display(sys.stdout, enabled=not args.no_progress) as on_event:
        study = run_study(study_cfg, space, objective, on_event=on_event)
    _summary(study, study_cfg.storage_url())
    return 0


def _summary(study: Any, url: str) -> None:
    from optuna.trial import TrialState

    from tunesmith.storage.urls import redact

    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    out = sys.stdout
    out.write(
        f"study {study.study_name!r}: {counts[TrialState.COMPLETE]} complete, "
        f"{counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed "
        f"(storage {redact(url)})\n"
    )
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return
    if len(study.directions) > 1:
        out.write(f"Pareto front: {len(study.best_trials)} trials\n")
        for t in study.best_trials:
            out.write(f"  trial {t.number}: values {t.values} params {t.params}\n")
    else:
        best = study.best_trial
        out.write(f"best trial {best.number}: value {best.value:.6g}\n")
        for name, value in best.params.items():
            out.write(f"  {name} = {value!r}\n")
