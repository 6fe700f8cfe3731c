"""Seeding, once per trial, inside the process that runs it (no global state kept here)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int) -> Any:
    """A dedicated torch generator for DataLoader shuffling (independent of model RNG use)."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
