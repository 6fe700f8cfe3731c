"""Turn what an objective returned into Optuna values and extra metrics (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

GROUP = "tunesmith_group"
"""A user attribute of a trial that ran in a group task: the group's first trial number."""
GROUP_SIZE = "tunesmith_group_size"
"""A user attribute of a trial that ran in a group task: how many trials the group held."""

RESERVED_ATTRS = frozenset(
    {
        "fail_reason",
        "fail_traceback",
        "owner",
        "lease_until",
        "requeued",
        "requeued_from",
        GROUP,
        GROUP_SIZE,
    }
)


def group_size(attrs: Mapping[str, Any]) -> int:
    """How many trials shared the task of a trial with user attributes ``attrs`` (1: alone)."""
    size = attrs.get(GROUP_SIZE)
    if isinstance(size, int) and not isinstance(size, bool) and size > 1:
        return size
    return 1


SETUP_SECONDS = "setup_seconds"
"""A result key: the trial's one-off set-up seconds (building a cache that later trials reuse).
Budgeting and the cost-aware schedule subtract it from the trial's duration to predict the next
trial's cost. A member of a group task reports its group's set-up: it is subtracted from the
group's wall time before that is shared among the members."""


def setup_seconds(result: Any) -> float:
    """The ``setup_seconds`` an objective's result reports (0 when none, or not a number)."""
    value = result.get(SETUP_SECONDS) if isinstance(result, Mapping) else None
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    return 0.0


class BadResult(ValueError):
    """The objective's return value cannot be used; the message is the trial's fail reason."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadResult(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise BadResult(f"{what} is {number} (not finite)")
    return number


def to_values(
    result: Any, n_objectives: int, metrics: Sequence[str] | None
) -> tuple[list[float], dict[str, Any]]:
    """``(values, extra metrics)`` from a float, a dict of metrics or a tuple (multi-objective).

    With a dict, ``metrics`` names the objective entries (one per direction); every other number
    in the dict is returned as an extra metric, to be stored as a trial user attribute.
    """
    extra: dict[str, Any] = {}
    if isinstance(result, dict):
        if not metrics:
            raise BadResult(
                f"the objective returned a dict {sorted(result)}; set study.metric to name "
                "the entry to optimise"
            )
        missing = [m for m in metrics if m not in result]
        if missing:
            raise BadResult(
                f"the objective's result has no metric {missing[0]!r} (study.metric); "
                f"it has {sorted(result)}"
            )
        values = [_number(result[m], f"metric {m!r}") for m in metrics]
        for key, value in result.items():
            if key in metrics:
                continue
            name = f"metric.{key}" if key in RESERVED_ATTRS else str(key)
            extra[name] = value
        return values, extra
    if isinstance(result, (list, tuple)):
        if len(result) != n_objectives:
            raise BadResult(
                f"the objective returned {len(result)} values for {n_objectives} direction(s)"
            )
        return [_number(v, f"objective value {i}") for i, v in enumerate(result)], extra
    if n_objectives != 1:
        raise BadResult(
            f"the study has {n_objectives} directions; return a tuple of {n_objectives} values "
            f"or a dict with study.metric entries, got {result!r}"
        )
    return [_number(result, "the objective's value")], extra
