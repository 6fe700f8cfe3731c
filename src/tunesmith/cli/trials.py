"""``tunesmith trials STUDY``: list a study's trials as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "list the trials of a study"


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("trials", help=HELP, description=HELP)
    p.add_argument("study", metavar="STUDY", help="study name")
    p.add_argument(
        "--storage", metavar="URL", help="storage URL (default: sqlite:///runs/<STUDY>/study.db)"
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    return p


def named_study_url(name: str, storage: str | None) -> str:
    """The storage URL of study ``name``: ``--storage`` checked, or the default path."""
    from tunesmith.config.experiment import check_safe_name
    from tunesmith.errors import ConfigError
    from tunesmith.storage.urls import check_storage_url, default_storage_url

    if storage:
        return check_storage_url(storage, field="--storage")
    try:
        check_safe_name(name)
    except ValueError as exc:
        raise ConfigError(f"STUDY {exc}, got {name!r}") from None
    return default_storage_url(name)


def open_named_study(name: str, storage: str | None) -> Any:
    """The study ``name`` at ``storage`` (default path); a missing one is an error, exit 2."""
    from tunesmith.storage.study import load_existing_study

    url = named_study_url(name, storage)
    return load_existing_study(name, url)


def trials_frame(study: Any) -> Any:
    """Optuna's trials table without the coordinator's bookkeeping columns."""
    value = "values" if len(study.directions) > 1 else "value"
    attrs = ("number", "state", value, "params", "duration", "user_attrs")
    frame = study.trials_dataframe(attrs=attrs)
    hidden = ("user_attrs_owner", "user_attrs_lease_until", "user_attrs_fail_traceback")
    return frame.drop(columns=[c for c in frame.columns if c in hidden])


def run(args: argparse.Namespace) -> int:
    study = open_named_study(args.study, args.storage)
    frame = trials_frame(study)
    out = sys.stdout
    if args.format == "csv":
        frame.to_csv(out, index=False)
    elif args.format == "json":
        import json

        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        out.write(json.dumps(records, default=str))
        out.write("\n")
    elif frame.empty:
        out.write(f"study {args.study!r} has no trials\n")
    else:
        out.write(frame.to_string(index=False) + "\n")
    return 0
