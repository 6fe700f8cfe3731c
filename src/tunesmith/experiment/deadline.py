"""A deadline that running trials respect: the budget ends a trial at its next report.

A coordinator with ``study.timeout`` (a search's share of a whole-run budget, the re-check's, the
final run's, or a plain study's timeout) has a deadline: its start plus the timeout. The
coordinator already starts no trial that cannot finish in the time left; this module decides
about the trials that are already running. At each intermediate report of a running trial:

* the deadline has passed: the answer is "stop";
* the trial's measured pace (seconds per step between its own reports; the first report, which
  carries the trial's set-up, is not a pace) projects its finish past the deadline: the answer is
  "stop" at once, rather than at the first report after the deadline. The finish is the trial's
  last step when its objective says how many steps it reports (``report_steps(params)``; a
  fine-tuning job: its epochs), else its next report.

Such a trial was cut by the budget, not pruned for being bad, so it is recorded as COMPLETE with
its best result so far and the user attribute ``stopped_by: budget``: what the objective returned
after the stop (a fine-tuning trial returns its best epoch's metrics), else its best reported
value. It stays a candidate for the re-check and the final run, and its time is not wasted on a
record no phase may use. A trial with nothing to record (a multi-objective trial that returned
nothing) stays PRUNED, with the same attribute. Its duration still tells what the next trial may
cost: scaled by the steps it was given over the steps it ran when that count is known, else as
measured (a lower bound).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

STOPPED_BY = "stopped_by"
"""The user attribute of a trial the budget ended (value :data:`BUDGET`)."""
BUDGET = "budget"
STOP_REASON = "stop_reason"  # what a fine-tuning trial records about how its training ended

StepsOf = Callable[[Mapping[str, Any]], "int | None"]
"""``steps_of(params)``: the last step a trial with these parameters reports, when known."""


@dataclass
class _Reports:
    total: int | None = None
    steps: list[tuple[int, float]] = field(default_factory=list)  # (step, monotonic time)
    values: list[float] = field(default_factory=list)
    cut: bool = False


class Deadline:
    """The deadline of one coordinator: ``start`` (a ``now()`` reading) + ``timeout`` seconds.

    ``maximize``: the direction of the first objective; ``single``: one objective (a reported
    value can stand for the trial's value). Without a timeout nothing is recorded and no trial
    is ever cut.
    """

    def __init__(
        self,
        timeout: float | None,
        start: float,
        *,
        maximize: bool = True,
        single: bool = True,
        steps_of: StepsOf | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.end = None if timeout is None else start + float(timeout)
        self._maximize = maximize
        self._single = single  # a reported value is the trial's value (one objective)
        self._steps_of = steps_of
        self._now = now
        self._trials: dict[int, _Reports] = {}

    def begin(self, key: int, params: Mapping[str, Any]) -> None:
        """A trial starts with ``params``: remember how many steps it reports, when known."""
        if self.end is None:
            return
        total = None
        if self._steps_of is not None:
            try:
                total = self._steps_of(params)
            except Exception:  # a hint only: no hint means "project to the next report"
                total = None
        self._trials[key] = _Reports(total if total and total > 0 else None)

    def cut(self, key: int, step: int, value: float) -> bool:
        """Record the report of ``key``; True when the budget ends the trial now."""
        if self.end is None:
            return False
        reports = self._trials.setdefault(key, _Reports())
        now = self._now()
        reports.steps.append((step, now))
        if math.isfinite(value):
            reports.values.append(float(value))
        if not reports.cut:
            reports.cut = now >= self.end or self.projected(key) > self.end
        return reports.cut

    def projected(self, key: int) -> float:
        """When the trial is expected to finish, from its own pace (-inf: not measurable yet)."""
        reports = self._trials.get(key)
        if reports is None or len(reports.steps) < 2:
            return -math.inf
        (first, t0), (last, t1) = reports.steps[0], reports.steps[-1]
        if last <= first:
            return -math.inf
        pace = (t1 - t0) / (last - first)
        remaining = 1 if reports.total is None else max(0, reports.total - last)
        return t1 + pace * remaining

    def settle(self, outcome: Any) -> tuple[Any, float | None]:
        """``(outcome to record, scale)`` for a finished trial's runner outcome; ``scale`` is
        None unless the budget cut the trial, else what its duration is multiplied by to be a
        full run's (steps given / steps run, 1.0 when unknown).

        A cut trial's outcome becomes ``ok`` with what the objective returned after the stop,
        else its best reported value (see the module doc); an error stays an error.
        """
        reports = self._trials.pop(outcome.key, None)
        if reports is None or not reports.cut:
            return outcome, None
        last = reports.steps[-1][0] if reports.steps else 0
        scale = reports.total / last if reports.total and last > 0 else 1.0
        scale = max(1.0, scale)
        if outcome.status == "error":
            return outcome, scale
        value = outcome.value
        if isinstance(value, dict) and STOP_REASON in value:
            value = {**value, STOP_REASON: BUDGET}
        if value is None and reports.values and self._single:
            pick = max if self._maximize else min
            value = pick(reports.values)
        if value is None:
            return replace(outcome, value=None), scale
        return replace(outcome, status="ok", value=value), scale
