"""A sampler that learns from failures.

Optuna's model-based samplers (TPE, GP) read complete (and pruned) trials only: a failed trial is
invisible to them, so a region where trials fail (out of memory at a large batch, a loss that
diverges at a high learning rate, a NaN score) looks unexplored, and therefore promising. The
study then keeps proposing it until ``study.max_consecutive_failures`` stops it.

:func:`failure_aware` wraps such a sampler: the trials it reads show each failed trial (one whose
parameters were sampled; re-sampled duplicates excluded) as complete with the worst value observed
so far in each objective. The model then ranks the failing region with the worst trials and
moves away from it. Only the sampler's view changes: the stored trial stays FAIL, with its
reason. Before any trial has completed there is no worst value, and failures stay invisible.

A worst value alone proved weak for TPE (measured: with 2 of 5 categorical values failing, TPE
still proposed them in 37 % of its trials after start-up, random search 40 %): TPE splits trials
into good and the rest and never sees *how* bad a trial was. So the wrapper also weighs each
proposal by its estimated chance of running, as constrained Bayesian optimisation multiplies the
acquisition by the probability of feasibility: a proposal is accepted with probability
``1 - risk``, where ``risk`` (:func:`failure_risk`) says how much likelier than average trials
near it in one of its parameters failed (the same categorical value, a numeric value within
:data:`NEAR` of its range, in log space for log parameters). A refused proposal is asked again,
at most :data:`MAX_REDRAWS` times; then the least risky proposal drawn is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

DUPLICATE_OF = "duplicate_of"  # the coordinator's record of a re-sampled repeat
NEAR = 0.1
"""Two numeric values are near when they differ by at most this share of the parameter's range."""
MAX_REDRAWS = 10
"""How many times a proposal refused for its failure risk is asked again."""


def _position(value: Any, dist: Any) -> float | None:
    """A numeric value's place in its range, 0..1 (log scale for log parameters)."""
    import math

    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    if low is None or high is None or high <= low:
        return None
    if getattr(dist, "log", False):
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (float(value) - low) / (high - low)


def _near(a: Any, b: Any, dist: Any) -> bool:
    if hasattr(dist, "choices"):
        return bool(a == b)
    pa, pb = _position(a, dist), _position(b, dist)
    return pa is not None and pb is not None and abs(pa - pb) <= NEAR


def failure_risk(params: dict[str, Any], dists: dict[str, Any], trials: Sequence[Any]) -> float:
    """How much likelier than the study's average a trial with ``params`` is to fail, 0..1.

    For each parameter, the failure rate among the finished ``trials`` near its value (the same
    categorical value, a numeric value within :data:`NEAR` of the range),
    ``(failed + g) / (near + 1)`` (one pseudo-trial at the study's failure rate ``g``); the risk
    is the largest excess of that rate over ``g``, scaled by
    ``1 - g``. A parameter that has nothing to do with the failures sits at the average and adds
    nothing; a value where every trial failed approaches 1. No failures: 0.
    """
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    judged = [
        t for t in trials if t.params and t.state in states and DUPLICATE_OF not in t.user_attrs
    ]
    failed_all = sum(t.state == TrialState.FAIL for t in judged)
    if not failed_all or failed_all == len(judged):
        return 0.0
    g = failed_all / len(judged)
    risk = 0.0
    for name, value in params.items():
        dist = dists.get(name)
        if dist is None:
            continue
        near = [t for t in judged if name in t.params and _near(t.params[name], value, dist)]
        failed = sum(t.state == TrialState.FAIL for t in near)
        rate = (failed + g) / (len(near) + 1)  # one pseudo-trial at the average rate
        risk = max(risk, (rate - g) / (1 - g))
    return risk


def failures_as_worst(trials: Sequence[Any], directions: Sequence[str]) -> list[Any]:
    """``trials`` with each failed one (that has parameters) shown as complete at the worst
    observed value of every objective; returned in the same order."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not done or not any(t.state == TrialState.FAIL for t in trials):
        return list(trials)
    worst = [
        (min if d == "maximize" else max)(t.values[i] for t in done)
        for i, d in enumerate(directions)
    ]
    out = []
    for t in trials:
        if t.state == TrialState.FAIL and t.params and DUPLICATE_OF not in t.user_attrs:
            shown = copy.copy(t)
            shown.state = TrialState.COMPLETE
            shown.values = list(worst)
            out.append(shown)
        else:
            out.append(t)
    return out


def failure_aware(sampler: Any, seed: int | None = None) -> Any:
    """``sampler`` reading failed trials as the worst ones and refusing risky proposals (see the
    module docstring); ``seed`` seeds the acceptance draws."""
    return _wrapper_class()(sampler, seed)


_CLASS: Any = None


def _wrapper_class() -> Any:
    """Build the wrapper class once (it subclasses Optuna's BaseSampler, imported here)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from optuna.samplers import BaseSampler

    from tunesmith.storage.internals import study_view

    class FailureAwareSampler(BaseSampler):  # type: ignore[misc]
        """Delegates to ``base``, which sees failed trials as the worst complete ones."""

        def __init__(
            self, base: Any, seed: int | None = None, worst: bool = True, refuse: bool = True
        ) -> None:
            import numpy as np

            self.base = base
            self._accept_rng = np.random.RandomState(seed)
            self._worst = worst  # show failures as the worst value
            self._refuse = refuse  # refuse risky proposals

        def __getattr__(self, name: str) -> Any:
            if name == "base":  # not set yet (during unpickling)
                raise AttributeError(name)
            return getattr(self.base, name)

        def __repr__(self) -> str:
            return f"FailureAware({self.base!r})"

        def _view(self, study: Any) -> Any:
            if not self._worst:
                return study
            directions = [d.name.lower() for d in study.directions]
            return study_view(study, lambda trials: failures_as_worst(trials, directions))

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.base.infer_relative_search_space(self._view(study), trial)

        def _redraw(self, study: Any, draw: Any, dists: Any) -> Any:
            """Draw until a proposal is accepted (chance ``1 - risk``); after
            :data:`MAX_REDRAWS` refusals, the least risky proposal drawn."""
            trials = study.get_trials(deepcopy=False)
            best: tuple[float, Any] | None = None
            for _ in range(MAX_REDRAWS + 1):
                params = draw()
                if not self._refuse:
                    return params
                risk = failure_risk(params, dists, trials)
                if risk == 0.0 or self._accept_rng.random_sample() >= risk:
                    return params
                if best is None or risk < best[0]:
                    best = (risk, params)
            assert best is not None
            return best[1]

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            view = self._view(study)
            return self._redraw(
                study, lambda: self.base.sample_relative(view, trial, search_space), search_space
            )

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            view = self._view(study)
            params = self._redraw(
                study,
                lambda: {name: self.base.sample_independent(view, trial, name, dist)},
                {name: dist},
            )
            return params[name]

        def before_trial(self, study: Any, trial: Any) -> None:
            self.base.before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    _CLASS = FailureAwareSampler
    return _CLASS
