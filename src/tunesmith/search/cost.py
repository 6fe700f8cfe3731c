"""The cost model of the default search: which freezing strategy the next trial should use.

Pure (no torch, no Optuna). Trial cost differs by orders of magnitude between strategies: a head
epoch on cached features takes milliseconds, a last-k epoch seconds, a full epoch minutes on a CPU.
The model keeps, per *arm* (a strategy, or a published recipe), the measured seconds per epoch
and the scores of its finished trials, and ranks the arms by **expected improvement per second**:

* expected seconds of a trial = the median of the arm's measured trials; before an arm has run,
  the measured seconds per epoch of the deepest shallower arm, times the factor of each level of
  depth between them (:data:`DEPTH_COST_FACTORS`), times the arm's epochs (a unit prior when
  nothing ran yet, which keeps the cheapest arm first);
* expected improvement over the best score so far, under a normal belief about the arm's next
  score: for an arm that ran :data:`MIN_TRIALS` trials (or the cheapest arm, once scored), the
  mean and spread of its last :data:`RECENT` scores; for a deeper arm before that, the best score
  of the shallower arms plus :data:`PRIOR_GAIN` (a deeper strategy promises a gain; a known-good
  recipe promises :data:`RECIPE_GAIN`), or the mean of its own scores (a recipe of its
  strategy's included) when that is higher, with spread :data:`PRIOR_SPREAD`;
* an arm whose expected trial does not fit in the time left is not ranked (not started), and an
  arm is tried only after every shallower strategy arm (recipes, which run once, aside) has
  :data:`MIN_TRIALS` finished trials.

:meth:`CostModel.expected_trial_seconds` is the interface other parts (the whole-run budget)
read to plan with the costs the search has measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEPTH_COST_FACTORS: tuple[float, ...] = (30.0, 3.0)
"""Prior ratio of an epoch's cost at depth ``d + 1`` to one at depth ``d``, until measured. Depth 1
(the top layers trained by backpropagation, the lower ones cached) costs about 30 head epochs on
cached features; depth 2 (every layer) about 3 depth-1 epochs: a last-k trial trains k of the L
layers, up to 4 of 6 in the default text space. Deeper levels repeat the last factor."""
PRIOR_GAIN = 0.01
"""How much a not yet tried deeper arm is expected to beat the shallower arms' best score."""
RECIPE_GAIN = 0.02
"""The same for a known-good recipe (a published or rule-of-thumb configuration): it is expected
to do better than a configuration the sampler draws for the same strategy, so it runs first."""
PRIOR_SPREAD = 0.02
"""Spread of the belief about a not yet tried arm's score."""
MIN_SPREAD = 1e-3
RECENT = 5
MIN_TRIALS = 3


@dataclass(frozen=True)
class Arm:
    """One choice the schedule can make: ``depth`` orders arms from cheap (0) to deep;
    ``epochs`` is what one trial may train; ``limit`` caps its trials (a recipe runs once);
    ``recipe``: a known-good configuration rather than the sampler's draw, of the strategy
    ``strategy`` (its score also speaks for that strategy's arm)."""

    name: str
    depth: int
    epochs: int
    limit: int | None = None
    recipe: bool = False
    strategy: str | None = None


def depth_cost_factor(shallow: int, deep: int) -> float:
    """The prior ratio of an epoch's cost at depth ``deep`` to one at depth ``shallow``."""
    factor = 1.0
    for level in range(shallow, deep):
        factor *= DEPTH_COST_FACTORS[min(level, len(DEPTH_COST_FACTORS) - 1)]
    return factor


@dataclass
class _Record:
    epoch_seconds: list[float] = field(default_factory=list)
    trial_seconds: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    trials: int = 0


@dataclass(frozen=True)
class Ranked:
    """An arm's place in the ranking and why."""

    arm: Arm
    seconds: float
    improvement: float

    @property
    def rate(self) -> float:
        """Expected improvement per second."""
        return self.improvement / max(self.seconds, 1e-9)


def expected_improvement(mean: float, spread: float, best: float) -> float:
    """E[max(X - best, 0)] for X ~ Normal(mean, spread) (maximising)."""
    spread = max(spread, MIN_SPREAD)
    z = (mean - best) / spread
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return (mean - best) * cdf + spread * pdf


class CostModel:
    """Measured cost and scores per arm; :meth:`rank` orders the arms for the next trial.

    ``maximize``: whether higher scores are better (scores are negated inside otherwise).
    """

    def __init__(self, arms: Sequence[Arm], maximize: bool = True) -> None:
        if not arms:
            raise ValueError("a cost model needs at least one arm")
        self._arms = sorted(arms, key=lambda a: a.depth)
        self._records: dict[str, _Record] = {a.name: _Record() for a in self._arms}
        self._sign = 1.0 if maximize else -1.0

    @property
    def arms(self) -> tuple[Arm, ...]:
        return tuple(self._arms)

    def observe(
        self, arm: str, seconds: float, epochs_run: int, score: float | None = None
    ) -> None:
        """A finished trial of ``arm``: its wall time over ``epochs_run`` epochs (0: it reported
        none, so all of the arm's epochs), its score (None for a pruned or failed trial: its
        cost still counts)."""
        target = self._by_name(arm)
        record = self._records[target.name]
        record.trials += 1
        if seconds >= 0:
            record.trial_seconds.append(seconds)
            # A trial that reported no epochs is taken to have run all of them.
            record.epoch_seconds.append(seconds / (epochs_run if epochs_run > 0 else target.epochs))
        if score is not None and math.isfinite(score):
            record.scores.append(self._sign * score)

    def epoch_seconds(self, arm: str) -> float | None:
        """The measured (median) seconds per epoch of ``arm``; None before it ran."""
        return _median(self._records[arm].epoch_seconds)

    def expected_trial_seconds(self, arm: str) -> float | None:
        """Expected wall seconds of one trial of ``arm``: the median of its measured trials, or
        derived from the deepest measured arm not deeper than it; None before any measurement."""
        target = self._by_name(arm)
        measured = _median(self._records[arm].trial_seconds)
        if measured is not None:
            return measured
        for other in reversed(self._arms):
            per_epoch = self.epoch_seconds(other.name)
            if other.depth <= target.depth and per_epoch is not None:
                return per_epoch * depth_cost_factor(other.depth, target.depth) * target.epochs
        return None

    def _by_name(self, name: str) -> Arm:
        for arm in self._arms:
            if arm.name == name:
                return arm
        raise KeyError(f"unknown arm {name!r}; known: {', '.join(a.name for a in self._arms)}")

    def best(self) -> float | None:
        scores = [s for r in self._records.values() for s in r.scores]
        return max(scores) if scores else None

    def _belief(self, arm: Arm) -> tuple[float, float] | None:
        record = self._records[arm.name]
        scores = record.scores[-RECENT:]
        # An arm keeps the prior until it had MIN_TRIALS trials: one unlucky sample (a learning
        # rate the sampler tried badly) must not condemn a whole strategy.
        if scores and (record.trials >= MIN_TRIALS or arm.depth == self._arms[0].depth):
            mean = sum(scores) / len(scores)
            var = sum((s - mean) ** 2 for s in scores) / max(1, len(scores) - 1)
            return mean, max(math.sqrt(var), MIN_SPREAD)
        shallower = [
            s for a in self._arms if a.depth < arm.depth for s in self._records[a.name].scores
        ]
        if not shallower:
            return None
        prior = max(shallower) + (RECIPE_GAIN if arm.recipe else PRIOR_GAIN)
        if not arm.recipe:  # a recipe of this strategy is a trial of it too
            scores = scores + [
                s
                for a in self._arms
                if a.recipe and a.strategy == arm.name
                for s in self._records[a.name].scores
            ]
        # A good first trial raises the belief; a bad one does not lower it below the prior.
        own = sum(scores) / len(scores) if scores else prior
        return max(prior, own), PRIOR_SPREAD

    def rank(self, time_left: float | None = None) -> list[Ranked]:
        """Arms that may run next, best expected improvement per second first.

        An arm is left out when it has run ``limit`` trials, when a shallower arm has fewer than
        :data:`MIN_TRIALS` finished trials, or when its expected trial does not fit in
        ``time_left`` seconds.
        """
        best = self.best()
        out: list[Ranked] = []
        for arm in self._arms:
            if arm.limit is not None and self._records[arm.name].trials >= arm.limit:
                continue
            if any(  # recipes run once: only the strategies' own arms hold deeper ones back
                self._records[a.name].trials < MIN_TRIALS
                for a in self._arms
                if a.depth < arm.depth and not a.recipe
            ):
                continue
            seconds = self.expected_trial_seconds(arm.name)
            if seconds is not None and time_left is not None and seconds > time_left:
                continue
            belief = self._belief(arm)
            if best is None or belief is None:
                improvement = 1.0  # nothing scored yet: only the cost matters
            else:
                improvement = expected_improvement(belief[0], belief[1], best)
            cost = seconds if seconds is not None else depth_cost_factor(0, arm.depth)
            out.append(Ranked(arm, cost, improvement))
        out.sort(key=lambda r: (-r.rate, r.arm.depth))
        return out

    def next_arm(self, time_left: float | None = None) -> Arm | None:
        """The arm of the next trial, or None when no arm fits in ``time_left``."""
        ranked = self.rank(time_left)
        return ranked[0].arm if ranked else None

    def summary(self) -> Mapping[str, dict[str, float | int | None]]:
        """Per arm: trials, measured seconds per epoch, expected trial seconds, best score."""
        return {
            a.name: {
                "trials": self._records[a.name].trials,
                "epoch_seconds": self.epoch_seconds(a.name),
                "trial_seconds": self.expected_trial_seconds(a.name),
                "best": (
                    self._sign * max(self._records[a.name].scores)
                    if self._records[a.name].scores
                    else None
                ),
            }
            for a in self._arms
        }


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None
