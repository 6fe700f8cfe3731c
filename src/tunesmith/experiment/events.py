"""Progress events the coordinator emits; the CLI draws them, libraries may ignore them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Progress:
    """A snapshot of the study as this coordinator sees it.

    Counts are over the whole study (earlier runs included); ``done_at_start`` is how many trials
    were COMPLETE or PRUNED when this run began, so a rate can be computed for this run only.
    """

    study_name: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None
    elapsed: float
    n_trials: int | None
    timeout: float | None
    done_at_start: int

    @property
    def done(self) -> int:
        return self.complete + self.pruned

    def eta(self) -> float | None:
        """Seconds left by the trial budget (at this run's rate) or the timeout, when known."""
        left: list[float] = []
        if self.timeout is not None:
            left.append(max(0.0, self.timeout - self.elapsed))
        finished_here = self.done - self.done_at_start
        if self.n_trials is not None and finished_here > 0 and self.elapsed > 0:
            remaining = max(0, self.n_trials - self.done)
            left.append(remaining * self.elapsed / finished_here)
        return min(left) if left else None


EventKind = Literal["started", "trial_started", "trial_reported", "trial_finished", "stopped"]


@dataclass(frozen=True)
class StudyEvent:
    """``kind`` says what happened; ``trial``/``state``/``message`` describe it where relevant.

    ``params`` (on ``trial_started``) are the trial's parameters; ``message`` on a failed
    ``trial_finished`` is its fail reason. Trackers (MLflow, TensorBoard) log from these events.
    """

    kind: EventKind
    progress: Progress
    trial: int | None = None
    state: str | None = None
    values: tuple[float, ...] | None = None
    message: str | None = None
    step: int | None = None
    params: dict[str, Any] | None = None


OnEvent = Callable[[StudyEvent], None]
