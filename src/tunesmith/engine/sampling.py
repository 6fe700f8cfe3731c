"""Length-grouped training batches: less padding for text, the same examples every epoch.

Texts are padded to the longest one in their batch, so a batch of random snippets costs as much
as its longest member. With ``train.group_by_length`` the training loader draws a random
permutation each epoch (from the run's generator), cuts it into blocks of ``MEGA_BATCHES``
batches, sorts each block by length, cuts the sorted blocks into batches and shuffles the order of
the batches. Every example is seen once per epoch; a batch holds examples of similar length.

A :class:`LoaderRequest` says what a training run needs of its loaders; the plain and the cached
loaders (features, frozen prefix; see :mod:`tunesmith.engine.loaders`) all go through the same
:func:`make_loader` with its lengths and generator seed, so a cached run sees the very batches an
uncached one would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.engine.seeding import make_generator

MEGA_BATCHES = 50


def example_lengths(dataset: Any, collate_fn: Any) -> list[int] | None:
    """Each example's length as its collate function will see it; None when unknown.

    A collate function with ``lengths(dataset)`` (the text collator: token counts after
    truncation) answers first; then a dataset with ``lengths()``.
    """
    for source, args in ((collate_fn, (dataset,)), (dataset, ())):
        fn = getattr(source, "lengths", None)
        if callable(fn):
            out = fn(*args)
            if out is not None:
                return [int(n) for n in out]
    return None


class LengthGroupedBatchSampler:
    """Batches of indices of similar length, in random order; new batches every epoch."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        generator: Any,
        mega_batches: int = MEGA_BATCHES,
    ) -> None:
        if batch_size < 1 or mega_batches < 1:
            raise ValueError("batch_size and mega_batches must be >= 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.generator = generator
        self.block = batch_size * mega_batches

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        n, bs = len(self.lengths), self.batch_size
        perm = torch.randperm(n, generator=self.generator).tolist()
        batches: list[list[int]] = []
        for start in range(0, n, self.block):
            block = sorted(perm[start : start + self.block], key=lambda i: -self.lengths[i])
            batches.extend(block[i : i + bs] for i in range(0, len(block), bs))
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b]


def make_loader(
    dataset: Any,
    batch_size: int,
    collate_fn: Any,
    generator: Any = None,
    lengths: Sequence[int] | None = None,
) -> Any:
    """A loader that shuffles with ``generator`` when given; an ordered one otherwise.

    With a generator and ``lengths``, batches group examples of similar length. Ordered loaders
    get their own generator too: a DataLoader without one draws its base seed from torch's global
    RNG, which would shift the dropout masks of everything after it.
    """
    import torch
    from torch.utils.data import DataLoader

    if generator is not None and lengths is not None:
        sampler = LengthGroupedBatchSampler(lengths, batch_size, generator)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn, num_workers=0)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=generator is not None,
        collate_fn=collate_fn,
        num_workers=0,
        generator=generator if generator is not None else torch.Generator(),
    )


@dataclass(frozen=True)
class LoaderRequest:
    """What a training run asks of its loaders, whichever kind serves it.

    ``seed`` seeds the training loader's shuffling generator; ``device`` and ``dtype`` (autocast,
    or None) are where cached features are computed; ``key_extra`` (the data fingerprint and
    preprocessing) enters the cache keys; ``lengths``: group training batches by length.
    """

    train: Any
    val: Any
    batch_size: int
    collate_fn: Any
    seed: int
    device: Any = None
    dtype: Any = None
    key_extra: str = ""
    lengths: Sequence[int] | None = None

    def roles(self) -> tuple[tuple[str, Any], tuple[str, Any]]:
        """``(("train", train set), ("val", validation set))``."""
        return ("train", self.train), ("val", self.val)

    def loader(self, role: str, dataset: Any, collate_fn: Any) -> Any:
        """``dataset``'s loader for ``role``: ``train`` shuffles (and groups by length), ``val``
        keeps the order."""
        if role == "train":
            return make_loader(
                dataset, self.batch_size, collate_fn, make_generator(self.seed), self.lengths
            )
        return make_loader(dataset, self.batch_size, collate_fn)
