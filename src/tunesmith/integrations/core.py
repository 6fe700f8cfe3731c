"""What both training-framework callbacks share: report a score, remember the best, decide to stop.

A callback is given the ``reporter`` tunesmith passes to a two-argument objective
(``objective(params, reporter)``). Each evaluation goes to ``reporter.report(step, value)``; a
True answer (the pruner says stop) is turned by the framework glue into "stop training", and the
trial ends as pruned with its last reported value. :meth:`TrialReport.result` is what the
objective returns: the best score and the best checkpoint's path, which the coordinator stores on
the trial (for pruned trials too).
"""

from __future__ import annotations

import math
from typing import Any

BEST_CHECKPOINT = "best_checkpoint"


class TrialReport:
    """The framework-free half of a callback."""

    def __init__(self, reporter: Any, metric: str, direction: str = "maximize") -> None:
        if not hasattr(reporter, "report"):
            raise TypeError(
                "the callback needs the reporter tunesmith passes to objective(params, reporter), "
                f"got {type(reporter).__name__}"
            )
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        self.reporter = reporter
        self.metric = metric
        self.direction = direction
        self.last_value: float | None = None
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.best_checkpoint: str | None = None
        self.pruned = False
        self._last_was_best = False

    def value_from(self, metrics: Any) -> float:
        """``metrics[self.metric]`` as a float; a KeyError lists the names there are."""
        if metrics is None or self.metric not in metrics:
            names = sorted(str(k) for k in (metrics or {}))
            raise KeyError(
                f"metric {self.metric!r} is not among the evaluation's metrics {names}; "
                "pass metric= one of them"
            )
        value = metrics[self.metric]
        return float(value.item() if hasattr(value, "item") else value)

    def report(self, step: int, value: float) -> bool:
        """Send one evaluation; True means stop training now (the trial is pruned)."""
        self.last_value = value
        better = self.best_value is None or (
            value > self.best_value if self.direction == "maximize" else value < self.best_value
        )
        self._last_was_best = math.isfinite(value) and better
        if self._last_was_best:
            self.best_value, self.best_step = value, step
        if not self.pruned and self.reporter.report(int(step), value):
            self.pruned = True
        return self.pruned

    def saved(self, path: str) -> None:
        """A checkpoint was written after the last evaluation: keep it if that one was the best."""
        if self._last_was_best:
            self.best_checkpoint = str(path)

    def result(self) -> dict[str, Any]:
        """What the objective returns: ``{metric: best value, "best_checkpoint": path}``."""
        out: dict[str, Any] = {}
        if self.best_value is not None:
            out[self.metric] = self.best_value
        if self.best_checkpoint is not None:
            out[BEST_CHECKPOINT] = self.best_checkpoint
        return out


def shared_decision(decide: Any) -> bool:
    """``decide()`` on rank 0 and the answer given to every rank (under torch.distributed).

    Without this, ranks other than 0 would train on after rank 0 stops, or each rank would ask the
    pruner on its own; in a single process it is just ``decide()``.
    """
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return bool(decide())
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return bool(decide())
    box = [bool(decide()) if dist.get_rank() == 0 else False]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])
