"""Lightning: report each validation to tunesmith, stop when the pruner says so.

    def objective(params, reporter):
        callback = TunesmithCallback(reporter, metric="val_acc")
        trainer = lightning.pytorch.Trainer(..., callbacks=[callback])
        trainer.fit(model, datamodule)
        return callback.result()

It reports ``trainer.callback_metrics[metric]`` at ``on_validation_end`` (step = the epoch), skips
the sanity check, and sets ``trainer.should_stop`` when the trial is pruned. Under several
processes rank 0 asks and every rank gets the answer (``trainer.strategy.broadcast``). The best
checkpoint is the ``ModelCheckpoint``'s ``best_model_path`` when there is one.
"""

from __future__ import annotations

from typing import Any

from tunesmith.errors import MissingDependencyError
from tunesmith.integrations.core import TrialReport

try:
    from lightning.pytorch import Callback
except ImportError as exc:
    raise MissingDependencyError(
        "lightning", "lightning", "tunesmith.integrations.lightning"
    ) from exc


class TunesmithCallback(Callback):  # type: ignore[misc]
    """A Lightning ``Callback`` that reports ``metric`` after each validation to ``reporter``."""

    def __init__(self, reporter: Any, metric: str = "val_acc", direction: str = "maximize") -> None:
        super().__init__()
        self.core = TrialReport(reporter, metric, direction)

    @property
    def pruned(self) -> bool:
        return self.core.pruned

    def result(self) -> dict[str, Any]:
        """The best ``metric`` and the best checkpoint's path, for the objective to return."""
        return self.core.result()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        stop = False
        if trainer.is_global_zero:
            value = self.core.value_from(trainer.callback_metrics)
            stop = self.core.report(int(trainer.current_epoch), value)
        if trainer.strategy.broadcast(stop, src=0):
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        checkpoint = getattr(trainer, "checkpoint_callback", None)
        best = getattr(checkpoint, "best_model_path", "") if checkpoint is not None else ""
        if best:
            self.core.best_checkpoint = str(best)
