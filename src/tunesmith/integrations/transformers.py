"""Hugging Face ``Trainer``: report each evaluation to tunesmith, stop when the pruner says so.

    def objective(params, reporter):
        callback = TunesmithCallback(reporter, metric="eval_accuracy")
        trainer = Trainer(..., callbacks=[callback])
        trainer.train()
        return callback.result()

The step is the epoch when evaluating per epoch, and the global step when evaluating by steps.
When the trial is pruned, ``control.should_training_stop`` ends training and tunesmith records the
trial as pruned with its last value. ``result()`` holds the best score and the best checkpoint's
path (``best_checkpoint`` on the trial).
"""

from __future__ import annotations

import os
from typing import Any

from tunesmith.errors import MissingDependencyError
from tunesmith.integrations.core import TrialReport, shared_decision

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - transformers is a dependency of tunesmith
    raise MissingDependencyError(
        "transformers", "transformers", "tunesmith.integrations.transformers"
    ) from exc


def _require_accelerate() -> None:
    try:
        import accelerate  # noqa: F401  (Trainer needs it; say so before the Trainer does)
    except ImportError as exc:
        raise MissingDependencyError(
            "accelerate", "transformers", "the Hugging Face Trainer"
        ) from exc


class TunesmithCallback(TrainerCallback):  # type: ignore[misc]
    """A ``TrainerCallback`` that reports ``metric`` from each evaluation to ``reporter``."""

    def __init__(
        self, reporter: Any, metric: str = "eval_accuracy", direction: str = "maximize"
    ) -> None:
        _require_accelerate()
        self.core = TrialReport(reporter, metric, direction)

    @property
    def pruned(self) -> bool:
        return self.core.pruned

    def result(self) -> dict[str, Any]:
        """The best ``metric`` and the best checkpoint's path, for the objective to return."""
        return self.core.result()

    @staticmethod
    def _step(args: Any, state: Any) -> int:
        strategy = str(getattr(args, "eval_strategy", "epoch"))
        if strategy.endswith("steps") or state.epoch is None:
            return int(state.global_step)
        return int(round(state.epoch))

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            stop = shared_decision(lambda: False)
        else:
            value = self.core.value_from(metrics)
            step = self._step(args, state)
            stop = shared_decision(lambda: self.core.report(step, value))
        if stop:
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self.core.saved(folder)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.best_model_checkpoint:  # the Trainer's own pick (metric_for_best_model)
            self.core.best_checkpoint = str(state.best_model_checkpoint)
