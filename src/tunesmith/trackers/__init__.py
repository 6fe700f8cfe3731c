"""Experiment trackers (``study.log_to: [mlflow, tensorboard]``), fed by the coordinator's events.

Only the coordinator's process logs: workers never talk to a tracker, as they never talk to the
storage. A tracker that is unreachable or raises costs one warning and is then left out for the
rest of the run; it never costs a trial.
"""

from __future__ import annotations

import logging
from typing import Any

from tunesmith.trackers.base import Tracker, Trackers, check_trackers, run_root

log = logging.getLogger(__name__)

__all__ = ["Tracker", "Trackers", "check_trackers", "open_trackers", "run_root"]


def open_trackers(config: Any) -> Trackers:
    """The trackers ``config.log_to`` names; one that cannot start is a warning, not an error.

    A tracker whose package is missing is a MissingDependencyError (before anything is written).
    """
    check_trackers(config)
    opened: list[Tracker] = []
    for name in config.log_to:
        try:
            if name == "mlflow":
                from tunesmith.trackers.mlflow import MlflowTracker

                opened.append(MlflowTracker(config))
            else:
                from tunesmith.trackers.tensorboard import TensorBoardTracker

                opened.append(TensorBoardTracker(config))
        except Exception as exc:
            log.warning(
                "%s logging is off for this run (the search goes on): %s: %s",
                name,
                type(exc).__name__,
                exc,
            )
    return Trackers(opened)
