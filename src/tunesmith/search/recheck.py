"""Seed re-check of the winners: pure selection and ranking, no training here.

A search picks its winner from one seed per configuration, so a lucky seed can win. After the
search, the top ``k`` configurations are run again with ``m`` more seeds and the winner is the one
with the best *mean* validation score. The runs themselves are done by the caller (the experiment
layer owns runners); this module chooses what to rerun and ranks the outcome.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One finished trial of the search: its number, parameters and validation score."""

    trial: int
    params: Mapping[str, Any]
    score: float
    seed: int


@dataclass
class RecheckRow:
    """A candidate with every score it got (the search's seed first)."""

    trial: int
    params: dict[str, Any]
    seeds: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    winner: bool = False

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "params": dict(self.params),
            "seeds": list(self.seeds),
            "scores": list(self.scores),
            "mean": self.mean,
            "std": self.std,
            "winner": self.winner,
        }


def top_k(candidates: Iterable[Candidate], k: int, maximize: bool) -> list[Candidate]:
    """The ``k`` best candidates with distinct parameters, best first.

    Trials with the same parameters (a re-queued or repeated configuration) count once, with the
    best of their scores. NaN scores never rank.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    best: dict[str, Candidate] = {}
    for cand in candidates:
        if math.isnan(cand.score):
            continue
        key = repr(sorted(cand.params.items(), key=lambda kv: kv[0]))
        kept = best.get(key)
        if kept is None or (cand.score > kept.score if maximize else cand.score < kept.score):
            best[key] = cand
    ordered = sorted(best.values(), key=lambda c: (-c.score if maximize else c.score, c.trial))
    return ordered[:k]


def extra_seeds(base_seed: int, m: int, used: Sequence[int] = ()) -> list[int]:
    """``m`` seeds different from ``base_seed`` and from any in ``used``, deterministic."""
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    taken = {base_seed, *used}
    out: list[int] = []
    candidate = base_seed + 1000
    while len(out) < m:
        if candidate not in taken:
            out.append(candidate)
            taken.add(candidate)
        candidate += 1000
    return out


def rank(rows: list[RecheckRow], maximize: bool) -> list[RecheckRow]:
    """Order rows by mean score (best first), mark the first as the winner and return them.

    Ties on the mean go to the smaller standard deviation, then to the earlier trial.
    """
    ordered = sorted(
        rows,
        key=lambda r: (-r.mean if maximize else r.mean, r.std, r.trial),
    )
    for i, row in enumerate(ordered):
        row.winner = i == 0
    return ordered
