"""``tunesmith best STUDY``: the best trial (or the Pareto front) of a study."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "show the best trial of a study (the Pareto front for several objectives)"


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("best", help=HELP, description=HELP)
    p.add_argument("study", metavar="STUDY", help="study name")
    p.add_argument(
        "--storage", metavar="URL", help="storage URL (default: sqlite:///runs/<STUDY>/study.db)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _trial_dict(trial: Any) -> dict[str, Any]:
    return {
        "number": trial.number,
        "values": trial.values,
        "params": trial.params,
        "user_attrs": {
            k: v for k, v in trial.user_attrs.items() if k not in ("owner", "lease_until")
        },
    }


def run(args: argparse.Namespace) -> int:
    from optuna.trial import TrialState

    from tunesmith.cli.trials import open_named_study
    from tunesmith.errors import TunesmithError

    study = open_named_study(args.study, args.storage)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise TunesmithError(f"study {args.study!r} has no complete trial yet")
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    if args.json:
        payload: Any = [_trial_dict(t) for t in best]
        if len(study.directions) == 1:
            payload = payload[0]
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return 0
    for t in best:
        sys.stdout.write(f"trial {t.number}: {', '.join(f'{v:.6g}' for v in t.values)}\n")
        for name, value in t.params.items():
            sys.stdout.write(f"  {name} = {value!r}\n")
    return 0
