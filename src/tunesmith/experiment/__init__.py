"""The study core (runtime, coordinator, fixed runs, results, events) and the experiments on it.

Public: :func:`tune`, :class:`TuneResult`, :class:`TrialPruned`, :func:`prepare`, :func:`run`,
:func:`run_experiment`, :func:`run_study`.
"""

from __future__ import annotations

from tunesmith.experiment.api import TuneResult, tune
from tunesmith.experiment.kinds import prepare, run, run_experiment
from tunesmith.experiment.runtime import run_study
from tunesmith.runners.base import TrialPruned

__all__ = [
    "TrialPruned",
    "TuneResult",
    "prepare",
    "run",
    "run_experiment",
    "run_study",
    "tune",
]
