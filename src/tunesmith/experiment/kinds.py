"""One dispatch for every kind of objective, and the one entry point that runs an experiment.

An experiment config names exactly one objective section; :data:`KINDS` maps that section's name
to its kind, which ``prepare``s the experiment (validates everything, writes nothing) and ``run``s
it. The CLI (``tunesmith tune``) and ``tunesmith.tune`` both end in :func:`run`.
"""

from __future__ import annotations

from typing import Any

from tunesmith.config.experiment import ExperimentConfig
from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.finetune.pipeline import FinetuneKind
from tunesmith.experiment.objectives import PYTHON, SKLEARN
from tunesmith.experiment.runtime import Prepared
from tunesmith.utils.registry import Registry

KINDS: Registry[Any] = Registry(
    "objective kind", {"objective": PYTHON, "sklearn": SKLEARN, "finetune": FinetuneKind()}
)


def prepare(config: ExperimentConfig) -> Prepared:
    """Validate ``config`` fully (space, objective, data) without touching storage."""
    from tunesmith.trackers import check_trackers

    check_trackers(config.study)  # a tracker's missing package is an error before any trial
    return KINDS.lookup(config.objective_kind).prepare(config)  # type: ignore[no-any-return]


def run(prepared: Prepared, on_event: OnEvent | None = None) -> Any:
    """Run (or resume) a prepared experiment; return its ``optuna.Study``."""
    return KINDS.lookup(prepared.kind).run(prepared, on_event)


def run_experiment(config: ExperimentConfig, on_event: OnEvent | None = None) -> Any:
    """Prepare and run ``config``."""
    return run(prepare(config), on_event)
