"""A time budget for a whole run: the plan, the sizing of each phase, whether a trial still fits.

``study.timeout`` bounds a whole fine-tuning run, not only its search. The run is split into
phases, each with a share of the budget: the search, the seed re-check, the final run, and a small
reserve for the report. A phase that finishes early leaves its time to the next one; a phase never
starts a run that the time left cannot pay for. The re-check is sized to what is left after the
search (fewer configurations or fewer seeds, each with a line that says so), using the measured
cost of the configurations it reruns. This module is pure arithmetic on seconds: no clock, no
torch, no storage; the callers read the clock and the trial durations.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunesmith.experiment.results import group_size, setup_seconds

SHARES: Mapping[str, float] = {"search": 0.70, "recheck": 0.20, "final": 0.08, "report": 0.02}
"""Each phase's share of ``study.timeout`` (a phase's unused time passes to the next)."""
REPORT_MIN_S = 6.0
"""The least time kept back for writing ``best/`` and the HTML report (its plots take seconds)."""
SAFETY = 1.10
"""A run is expected to cost its measured duration times this (durations vary from run to run)."""


def expected_cost(durations: Sequence[float], prior: float | None = None) -> float | None:
    """What the next trial is expected to take: the median of ``durations`` (seconds) once there
    are any, else ``prior`` (a cost measured elsewhere, e.g. the search run being repeated)."""
    if durations:
        return float(statistics.median(durations))
    return prior


def fits(left: float, cost: float | None) -> bool:
    """Whether a run expected to take ``cost`` seconds can finish in ``left`` seconds.

    An unknown cost (nothing measured yet) fits while any time is left: the first trial of a
    search is how its cost is learned.
    """
    if left <= 0:
        return False
    return cost is None or cost * SAFETY <= left


@dataclass
class Plan:
    """The budget of one run: ``total`` seconds split into phases by :data:`SHARES`."""

    total: float
    shares: Mapping[str, float] = field(default_factory=lambda: dict(SHARES))
    expected: dict[str, float | None] = field(default_factory=dict)
    """The cost each phase expects per run (seconds; None until measured)."""
    notes: list[str] = field(default_factory=list)
    """The sizing decisions taken on the way (also printed)."""

    def share(self, phase: str) -> float:
        return self.total * self.shares[phase]

    def reserve_after(self, phase: str) -> float:
        """The seconds kept back for the phases after ``phase`` (their minimum needs)."""
        names = list(self.shares)
        later = names[names.index(phase) + 1 :]
        keep = 0.0
        for name in later:
            need = self.share(name) if name != "report" else max(REPORT_MIN_S, self.share(name))
            keep += need
        return keep

    def search_seconds(self) -> float:
        """The search's time limit: its share, less what the later phases need beyond theirs
        (the report's minimum)."""
        return max(0.0, min(self.share("search"), self.total - self.reserve_after("search")))

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_s": self.total,
            "shares": dict(self.shares),
            "seconds": {name: self.share(name) for name in self.shares},
            "expected_trial_s": dict(self.expected),
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The plan in words, one line per phase."""
        out = [f"budget: {self.total:.0f} s for the whole run (study.timeout)"]
        for name in self.shares:
            cost = self.expected.get(name)
            each = f", about {cost:.1f} s per run" if cost is not None else ""
            if name == "search" and cost is None:
                each = ", trial cost measured as it runs"
            seconds = self.search_seconds() if name == "search" else self.share(name)
            if name == "report":
                seconds = max(REPORT_MIN_S, seconds)
            out.append(f"  {name}: {seconds:.0f} s ({self.shares[name]:.0%} share){each}")
        return out


@dataclass(frozen=True)
class RecheckSize:
    """How much of the asked-for re-check fits: ``top_k`` configurations × ``seeds`` seeds."""

    top_k: int
    seeds: int
    expected_s: float
    note: str | None = None


def size_recheck(costs: Sequence[float | None], top_k: int, seeds: int, left: float) -> RecheckSize:
    """Fit the re-check of the best configurations (``costs``: each one's measured seconds, best
    first) into ``left`` seconds.

    The asked-for ``top_k`` × ``seeds`` runs when it fits. Otherwise seeds are kept and the
    worst configurations dropped, then seeds dropped, as long as at least two configurations are
    compared (one configuration alone has nothing to be compared with); when not even that fits,
    the re-check is skipped. An unknown cost counts as the largest known one.
    """
    cands = list(costs[:top_k])
    if seeds <= 0 or not cands:
        return RecheckSize(len(cands), 0, 0.0)
    known = [c for c in cands if c is not None]
    fill = max(known) if known else 0.0
    each = [fill if c is None else float(c) for c in cands]
    want = (len(each), seeds)
    for m in range(seeds, 0, -1):
        for k in range(len(each), 1, -1):
            cost = sum(each[:k]) * m * SAFETY
            if cost <= left:
                note = None
                if (k, m) != want:
                    note = (
                        f"re-check sized to the {left:.1f} s left: {k} configuration(s) x {m} "
                        f"seed(s) instead of {want[0]} x {want[1]} (about {cost:.1f} s)"
                    )
                return RecheckSize(k, m, cost, note)
    if len(each) < 2:
        return RecheckSize(len(each), 0, 0.0, None)
    return RecheckSize(
        len(each),
        0,
        0.0,
        f"re-check skipped: {max(left, 0):.1f} s left, and re-checking even two configurations "
        f"with one seed needs about {sum(each[:2]) * SAFETY:.1f} s",
    )


def trial_seconds(trial: Any) -> float | None:
    """How long a finished (frozen) trial ran, from its start and completion times, less the
    one-off set-up it recorded (``setup_seconds``: a cache build that a rerun does not pay).

    A member of a group task (trials trained together) ran as long as its group: its cost is its
    share, the group's time less the set-up, divided by the group's size
    (``tunesmith_group_size``)."""
    start, end = getattr(trial, "datetime_start", None), getattr(trial, "datetime_complete", None)
    if start is None or end is None:
        return None
    attrs = getattr(trial, "user_attrs", {})
    return max(0.0, ((end - start).total_seconds() - setup_seconds(attrs)) / group_size(attrs))


@dataclass
class RunBudget:
    """A :class:`Plan` with its clock: seconds since the run started come from ``now()``."""

    plan: Plan
    started: float
    now: Any  # () -> float, a monotonic clock

    def elapsed(self) -> float:
        return float(self.now() - self.started)

    def left(self) -> float:
        return self.plan.total - self.elapsed()

    def note(self, line: str) -> None:
        self.plan.notes.append(line)

    def recheck_seconds(self, final_cost: float | None) -> float:
        """What the re-check may spend: the time left, less the final run's expected cost (at
        least its share) and the report's reserve."""
        final = max(self.plan.share("final"), (final_cost or 0.0) * SAFETY)
        return self.left() - final - self.plan.reserve_after("final")

    def final_seconds(self) -> float:
        """What the final run may spend: the time left less the report's reserve."""
        return self.left() - self.plan.reserve_after("final")
