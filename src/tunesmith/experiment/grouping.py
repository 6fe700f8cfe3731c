"""Which asked trials run together as one group task (pure: no study, no runner).

The coordinator asks trials one at a time; :func:`buckets` sorts a batch of them by the
objective's group key: trials with the same key (not None) share a bucket of at most
``max_group``, a trial with key None, or alone with its key, runs as a plain task.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from tunesmith.runners.base import TrialTask

T = TypeVar("T")


def buckets(keyed: Sequence[tuple[Hashable | None, T]], max_group: int) -> list[list[T]]:
    """``keyed`` (group key, item) pairs in ask order → lists of items, by order of first ask.

    Items with the same not-None key share a list (a new list once one holds ``max_group``); an
    item with key None gets a list of its own.
    """
    if max_group < 1:
        raise ValueError(f"max_group must be >= 1, got {max_group}")
    out: list[list[T]] = []
    open_by_key: dict[Hashable, list[T]] = {}
    for key, item in keyed:
        if key is None:
            out.append([item])
            continue
        bucket = open_by_key.get(key)
        if bucket is None or len(bucket) >= max_group:
            bucket = open_by_key[key] = []
            out.append(bucket)
        bucket.append(item)
    return out


def group_tasks(
    asked: Sequence[tuple[Any, dict[str, Any], int | None]],
    key_of: Callable[[dict[str, Any]], Hashable | None] | None,
    max_group: int,
) -> list[TrialTask]:
    """The runner tasks for ``asked`` ``(trial, params, seed)`` triples: a group task per bucket
    of two or more (its members in ask order), a plain task per other trial. Without ``key_of``
    every trial is a plain task."""
    keyed = [
        (None if key_of is None else key_of(params), (t, params, seed)) for t, params, seed in asked
    ]
    tasks = []
    for bucket in buckets(keyed, max_group):
        members = tuple(TrialTask(t.number, params, seed) for t, params, seed in bucket)
        first = members[0]
        tasks.append(
            first if len(members) == 1 else TrialTask(first.key, first.params, first.seed, members)
        )
    return tasks
