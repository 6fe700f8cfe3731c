"""Seeded, stratified splitting, subsampling and k-fold assignment (pure NumPy).

Every function takes the labels and a seed and returns index arrays; nothing here reads data.
Stratification keeps at least one example of every class on the *training* side, so a class seen
in a carved-out split is always seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _groups(labels: Sequence[Any], stratify: bool) -> list[np.ndarray]:
    """Indices per class (sorted by class), or one group holding everything."""
    n = len(labels)
    if not stratify:
        return [np.arange(n)]
    by_class: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    return [np.asarray(by_class[k]) for k in sorted(by_class, key=repr)]


def _allocate(sizes: list[int], total: int, floor_keep: bool) -> list[int]:
    """Split ``total`` across groups proportionally (largest remainder), each at most size-1."""
    n = sum(sizes)
    if n == 0 or total <= 0:
        return [0] * len(sizes)
    exact = [s * total / n for s in sizes]
    take = [int(np.floor(e)) for e in exact]
    caps = [max(s - 1, 0) if floor_keep else s for s in sizes]
    take = [min(t, c) for t, c in zip(take, caps, strict=True)]
    order = sorted(range(len(sizes)), key=lambda i: exact[i] - take[i], reverse=True)
    left = total - sum(take)
    for i in order:
        if left <= 0:
            break
        if take[i] < caps[i]:
            take[i] += 1
            left -= 1
    return take


def split_indices(
    labels: Sequence[Any], fraction: float, *, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(keep, carved)``: ``carved`` holds about ``fraction`` of the examples.

    With ``stratify`` each class contributes in proportion and keeps at least one example.
    """
    n = len(labels)
    if fraction <= 0 or n == 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    groups = _groups(labels, stratify)
    total = int(round(fraction * n))
    take = _allocate([len(g) for g in groups], total, floor_keep=True)
    keep, carved = [], []
    for g, t in zip(groups, take, strict=True):
        perm = rng.permutation(g)
        carved.append(perm[:t])
        keep.append(perm[t:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(carved))


def subsample_indices(
    labels: Sequence[Any], size: int, *, seed: int, stratify: bool = True
) -> np.ndarray:
    """A seeded subsample of ``size`` indices, stratified by label (every class kept)."""
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    groups = _groups(labels, stratify)
    sizes = [len(g) for g in groups]
    take = _allocate(sizes, size, floor_keep=False)
    if stratify and size >= len(groups):
        # every class keeps at least one example, taken from the largest allocations
        for i, t in enumerate(take):
            if t == 0:
                take[int(np.argmax(take))] -= 1
                take[i] = 1
    out = [rng.permutation(g)[:t] for g, t in zip(groups, take, strict=True)]
    return np.sort(np.concatenate(out))


def kfold_indices(
    labels: Sequence[Any], k: int, *, seed: int, stratify: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` ``(train, validation)`` index pairs; each example is validated exactly once."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    offset = 0
    for g in _groups(labels, stratify):
        perm = rng.permutation(g)
        fold_of[perm] = (np.arange(len(perm)) + offset) % k
        offset += len(perm)
    idx = np.arange(n)
    return [(idx[fold_of != f], idx[fold_of == f]) for f in range(k)]
