"""Experiment trackers (``study.log_to: [mlflow, tensorboard]``), fed by the coordinator's events.

Only the coordinator's process logs: workers never talk to a tracker, as they never talk to the
storage. A tracker that is unreachable or raises costs one warning and is then left out for the
rest of the run; it never costs a trial.
"""

from __future__ import annotations

from tunesmith.trackers.base import Tracker, Trackers, check_trackers, open_trackers, run_root

__all__ = ["Tracker", "Trackers", "check_trackers", "open_trackers", "run_root"]
