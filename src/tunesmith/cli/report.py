"""``tunesmith report STUDY [--storage URL] --out DIR``: write the HTML report of a study."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "write a self-contained HTML report (and PNG plots) of a study"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help=HELP,
        description=HELP + ". The page works offline: plotly.js is embedded in it.",
    )
    parser.add_argument("study", metavar="STUDY", help="study name")
    parser.add_argument(
        "--storage",
        metavar="URL",
        default=None,
        help="storage URL (default: sqlite:///runs/<STUDY>/study.db)",
    )
    parser.add_argument(
        "--out", metavar="DIR", required=True, type=Path, help="folder for report.html and PNGs"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the study (it must exist: otherwise TunesmithError, exit 2) and write its report."""
    from tunesmith.reports import write_report
    from tunesmith.storage.paths import safe_name
    from tunesmith.storage.study import load_existing_study
    from tunesmith.storage.urls import check_storage_url, default_storage_url

    if args.storage:
        url = check_storage_url(args.storage, field="--storage")
    else:
        url = default_storage_url(safe_name(args.study, "STUDY"))
    study = load_existing_study(args.study, url)
    path = write_report(study, Path(args.out))
    n = len(study.trials)
    sys.stdout.write(f"report of study {args.study!r} ({n} trials) written to {path}\n")
    return 0
