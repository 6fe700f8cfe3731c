"""Callbacks: state in, decision out.

The loop keeps a :class:`TrainState` and hands it to its callbacks: after every evaluation
(``on_evaluate``, which may answer "stop") and at each epoch's start; a callback with
``on_train_loss`` also sees every training batch's loss. The loop's own duties are callbacks too:
:class:`BestWeights` keeps the best evaluation's weights, :class:`MetricsLog` writes
``metrics.jsonl``, :class:`DivergenceCheck` stops on a non-finite loss. Pruning reaches the
engine as a :class:`ReportCallback` over a plain ``fn(step, value) -> bool`` (True = stop), so the
engine never learns about Optuna.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tunesmith.engine.metrics import is_better


@dataclass
class TrainState:
    """What callbacks may read. ``score`` is the selection metric of the latest evaluation;
    ``loss`` the latest training batch's loss, ``losses`` those since the last evaluation."""

    metric: str
    greater_is_better: bool
    epoch: int = 0
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    loss: float | None = None
    losses: list[float] = field(default_factory=list)
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


@runtime_checkable
class LossCallback(Protocol):
    """A callback that also judges every training batch's loss (``state.loss``)."""

    def on_train_loss(self, state: TrainState) -> Decision: ...


class BaseCallback:
    """No-op defaults; subclass and override what you need."""

    def on_epoch_start(self, state: TrainState) -> None:
        return None

    def on_evaluate(self, state: TrainState) -> Decision:
        return CONTINUE


class CallbackList:
    """Asks callbacks in order; the first stop decision wins and later callbacks are not asked."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)
        self.loss_callbacks = [cb for cb in self.callbacks if isinstance(cb, LossCallback)]

    def on_epoch_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(state)

    def on_evaluate(self, state: TrainState) -> Decision:
        return next((d for cb in self.callbacks if (d := cb.on_evaluate(state)).stop), CONTINUE)

    def on_train_loss(self, state: TrainState) -> Decision:
        calls = (cb.on_train_loss(state) for cb in self.loss_callbacks)
        return next((d for d in calls if d.stop), CONTINUE)


def _cpu_copy(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class BestWeights(BaseCallback):
    """A CPU copy of ``model``'s weights at its best evaluation (its initial weights until one).

    ``score``, ``epoch`` and ``metrics`` describe that evaluation (None, None, {} before one).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.score: float | None = None
        self.epoch: int | None = None
        self.metrics: dict[str, float] = {}
        self.state_dict = _cpu_copy(model)

    def on_evaluate(self, state: TrainState) -> Decision:
        if state.score is not None and is_better(state.score, self.score, state.greater_is_better):
            self.take(state)
        return CONTINUE

    def take(self, state: TrainState) -> None:
        """Keep the model's current weights and ``state``'s latest evaluation, better or not."""
        self.score, self.epoch, self.metrics = state.score, state.epoch, dict(state.metrics)
        self.state_dict = _cpu_copy(self.model)


def _json_line(record: dict[str, Any]) -> str:
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }
    return json.dumps(clean, sort_keys=True)


class MetricsLog(BaseCallback):
    """Appends each evaluation's record (``state.history[-1]``) to a JSON-lines file.

    Non-finite floats are written as null.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_evaluate(self, state: TrainState) -> Decision:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(_json_line(state.history[-1]) + "\n")
        return CONTINUE


class DivergenceCheck(BaseCallback):
    """Stop as soon as a training batch's loss is not finite."""

    def on_train_loss(self, state: TrainState) -> Decision:
        if state.loss is not None and not math.isfinite(state.loss):
            return Decision(True, f"diverged: non-finite training loss at step {state.step}")
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
    """Report ``(step, score)`` to ``fn``; ``fn`` returning True stops the run (``stopped``).

    The step is the 1-based number of evaluations so far (= epochs done when evaluating once per
    epoch), so it grows by one per report whatever ``eval_every_steps`` is.

    With ``data.kfold`` the job calls :meth:`begin_fold` before each fold, and one trial still
    reports one value per evaluation, never twice at a step: fold ``f`` (0-based) reports at
    step ``f * stride + evaluation`` (``stride`` = the configured epochs when evaluating per
    epoch; steps never go back even if a fold evaluates more often), and the value is the mean
    over the folds so far, each finished fold counting with its best score and the running fold
    with its current one. Every trial of a study has the same folds and stride, so the pruner
    compares like with like at each step. A stopped (pruned) trial trains no further folds.
    """

    def __init__(self, fn: Callable[[int, float], bool], reason: str = "pruned") -> None:
        self.fn = fn
        self.reason = reason
        self.stopped = False
        self._offset = 0
        self._finished: list[float] = []
        self._last_step = 0

    def begin_fold(self, index: int, stride: int, finished_scores: list[float]) -> None:
        self._offset = max(index * stride, self._last_step)
        self._finished = list(finished_scores)

    def on_evaluate(self, state: TrainState) -> Decision:
        value = float("nan") if state.score is None else state.score
        if self._finished:
            value = (sum(self._finished) + value) / (len(self._finished) + 1)
        step = self._offset + state.evaluations
        self._last_step = step
        if self.fn(step, value):
            self.stopped = True
            return Decision(True, self.reason)
        return CONTINUE
