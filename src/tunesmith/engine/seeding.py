"""Seeding, once per trial, inside the process that runs it (no global state kept here)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def rng_restored() -> Iterator[None]:
    """Put Python's, numpy's and torch's CPU generators back as they were after the block.

    What the block draws (a new head's initial weights) then leaves the streams that follow
    (dropout masks, length-grouped batches) exactly where seeding put them.
    """
    import torch

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


def make_generator(seed: int) -> Any:
    """A dedicated torch generator for DataLoader shuffling (independent of model RNG use)."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
