"""Callbacks: state in, decision out.

The loop builds a :class:`TrainState` and asks each callback after every evaluation whether to go
on. Pruning reaches the engine as a :class:`ReportCallback` over a plain ``fn(step, value) -> bool``
(True = stop), so the engine never learns about Optuna.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tunesmith.engine.metrics import is_better


@dataclass
class TrainState:
    """What callbacks may read. ``score`` is the selection metric of the latest evaluation."""

    metric: str
    greater_is_better: bool
    epoch: int = 0
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    best_score: float | None = None
    best_epoch: int | None = None
    best_step: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return len(self.history)


@dataclass(frozen=True)
class Decision:
    stop: bool = False
    reason: str = ""


CONTINUE = Decision()


@runtime_checkable
class Callback(Protocol):
    def on_epoch_start(self, state: TrainState) -> None: ...

    def on_evaluate(self, state: TrainState) -> Decision: ...


class BaseCallback:
    """No-op defaults; subclass and override what you need."""

    def on_epoch_start(self, state: TrainState) -> None:
        return None

    def on_evaluate(self, state: TrainState) -> Decision:
        return CONTINUE


class EarlyStopping(BaseCallback):
    """Stop after ``patience`` evaluations in a row that do not beat the best by ``min_delta``."""

    def __init__(self, patience: int, min_delta: float = 0.0, greater_is_better: bool = True):
        self.patience = patience
        self.min_delta = min_delta
        self.greater_is_better = greater_is_better
        self.best: float | None = None
        self.bad = 0

    def on_evaluate(self, state: TrainState) -> Decision:
        score = state.score
        if score is not None and is_better(
            score, self.best, self.greater_is_better, self.min_delta
        ):
            self.best, self.bad = score, 0
            return CONTINUE
        self.bad += 1
        if self.bad >= self.patience:
            return Decision(True, f"early stopping: no improvement in {self.bad} evaluations")
        return CONTINUE


class ReportCallback(BaseCallback):
    """Report ``(evaluation number, score)`` to ``fn``; ``fn`` returning True stops the run.

    The step passed is the 1-based number of evaluations so far (= epochs done when evaluating
    once per epoch), so it grows by one per report whatever ``eval_every_steps`` is.
    """

    def __init__(self, fn: Callable[[int, float], bool], reason: str = "pruned") -> None:
        self.fn = fn
        self.reason = reason

    def on_evaluate(self, state: TrainState) -> Decision:
        value = float("nan") if state.score is None else state.score
        if self.fn(state.evaluations, value):
            return Decision(True, self.reason)
        return CONTINUE
