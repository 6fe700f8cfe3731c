"""The Pareto front of a multi-objective search and the ``final.pick`` rules (pure functions).

A :class:`Member` is one complete trial: its number and its objective values in the order of
``study.metric``; the first is the validation metric (``maximize`` or ``minimize``), the others
are costs, always minimised (:data:`tunesmith.config.pareto.COST_OBJECTIVES`). The rules are
documented in :mod:`tunesmith.config.pareto`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One complete trial of the search: its number and one value per objective."""

    trial: int
    values: tuple[float, ...]


@dataclass(frozen=True)
class Pick:
    """The chosen front member, the front it came from and why (one line)."""

    member: Member
    front: tuple[Member, ...]
    reason: str


def _loss(member: Member, directions: Sequence[str]) -> tuple[float, ...]:
    return tuple(
        -v if d == "maximize" else v for v, d in zip(member.values, directions, strict=True)
    )


def pareto_front(members: Sequence[Member], directions: Sequence[str]) -> list[Member]:
    """The members no other member dominates (no worse everywhere, better somewhere), by trial.

    Members with a non-finite value are left out.
    """
    ok = [m for m in members if all(math.isfinite(v) for v in m.values)]
    losses = {m.trial: _loss(m, directions) for m in ok}

    def dominated(m: Member) -> bool:
        a = losses[m.trial]
        return any(
            all(x <= y for x, y in zip(losses[o.trial], a, strict=True)) and losses[o.trial] != a
            for o in ok
        )

    return sorted((m for m in ok if not dominated(m)), key=lambda m: m.trial)


def pick_member(
    members: Sequence[Member],
    directions: Sequence[str],
    metrics: Sequence[str],
    *,
    rule: str,
    cost: str | None = None,
    factor: float | None = None,
    tolerance: float | None = None,
) -> Pick | None:
    """Apply ``rule`` to the Pareto front of ``members``; None when no member is finite.

    Ties go to the lower cost, then to the better metric, then to the earlier trial.
    """
    front = pareto_front(members, directions)
    if not front:
        return None
    sign = -1.0 if directions[0] == "maximize" else 1.0
    c = metrics.index(cost) if cost is not None else 1
    name, cost_name = metrics[0], metrics[c]

    def quality(m: Member) -> float:  # lower is better
        return sign * m.values[0]

    best_q = min(quality(m) for m in front)
    low = min(m.values[c] for m in front)
    if rule == "most_accurate":
        eligible, why = front, f"the best {name} on the front"
    elif rule == "most_accurate_within":
        assert factor is not None
        limit = factor * low
        eligible = [m for m in front if m.values[c] <= limit * (1 + 1e-12)]
        why = f"the best {name} with {cost_name} <= {factor:g} x {low:.6g} = {limit:.6g}"
    elif rule == "cheapest_within":
        assert tolerance is not None
        eligible = [m for m in front if quality(m) <= best_q + tolerance + 1e-12]
        why = (
            f"the lowest {cost_name} with {name} within {tolerance:g} of the best "
            f"({sign * best_q:.6g})"
        )
    else:
        raise ValueError(f"unknown final.pick rule {rule!r}")
    if rule == "cheapest_within":
        chosen = min(eligible, key=lambda m: (m.values[c], quality(m), m.trial))
    else:
        chosen = min(eligible, key=lambda m: (quality(m), m.values[c], m.trial))
    values = ", ".join(f"{n} {v:.6g}" for n, v in zip(metrics, chosen.values, strict=True))
    reason = f"{rule}: trial {chosen.trial} ({values}) is {why}, of {len(front)} on the front"
    return Pick(chosen, tuple(front), reason)
