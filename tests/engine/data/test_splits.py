"""Seeded stratified splits, subsamples and folds."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.engine.data.splits import kfold_indices, split_indices, subsample_indices


def test_split_is_stratified_seeded_and_disjoint():
    labels = ["a"] * 80 + ["b"] * 20
    keep, carved = split_indices(labels, 0.25, seed=1)
    assert len(carved) == 25 and len(keep) == 75
    assert set(keep).isdisjoint(carved)
    c = Counter(labels[i] for i in carved)
    assert c == {"a": 20, "b": 5}
    keep2, carved2 = split_indices(labels, 0.25, seed=1)
    assert np.array_equal(carved, carved2)
    _, carved3 = split_indices(labels, 0.25, seed=2)
    assert not np.array_equal(carved, carved3)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=60),
    st.floats(0.0, 0.8),
    st.integers(0, 10),
)
def test_split_keeps_every_class_in_training(labels, frac, seed):
    keep, carved = split_indices(labels, frac, seed=seed)
    assert sorted([*keep, *carved]) == list(range(len(labels)))
    assert {labels[i] for i in keep} == set(labels)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=3, max_size=60), st.integers(1, 60))
def test_subsample_size_and_classes(
    labels,
    size,
):
    idx = subsample_indices(labels, size, seed=0)
    assert len(idx) == min(size, len(labels))
    assert len(set(idx)) == len(idx)
    if size >= len(set(labels)):
        assert {labels[i] for i in idx} == set(labels)


def test_subsample_is_proportional():
    labels = [0] * 900 + [1] * 100
    idx = subsample_indices(labels, 100, seed=3)
    assert Counter(labels[i] for i in idx) == {0: 90, 1: 10}


def test_kfold_validates_each_example_once():
    labels = [0] * 10 + [1] * 5
    folds = kfold_indices(labels, 5, seed=0)
    assert len(folds) == 5
    val = np.concatenate([v for _, v in folds])
    assert sorted(val) == list(range(15))
    for tr, va in folds:
        assert set(tr).isdisjoint(va) and len(tr) + len(va) == 15
        assert Counter(labels[i] for i in va) == {0: 2, 1: 1}
