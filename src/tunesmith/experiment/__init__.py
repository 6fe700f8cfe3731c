"""The tuning runtime: one coordinator owns the study; runners run the trials.

Public: :func:`tune`, :class:`TuneResult`, :class:`TrialPruned`, :func:`run_experiment`,
:func:`run_study`.
"""

from __future__ import annotations

from tunesmith.experiment.api import TuneResult, tune
from tunesmith.experiment.runtime import prepare_experiment, run_experiment, run_study
from tunesmith.runners.base import TrialPruned

__all__ = [
    "TrialPruned",
    "TuneResult",
    "prepare_experiment",
    "run_experiment",
    "run_study",
    "tune",
]
