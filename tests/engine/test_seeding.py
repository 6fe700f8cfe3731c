"""Seeding: one seed per run, and blocks whose random draws must not shift what follows."""

from __future__ import annotations

import random

import numpy as np
import torch

from tunesmith.engine.seeding import make_generator, rng_restored, seed_everything


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_restored_puts_every_global_generator_back():
    seed_everything(11)
    expected = _draws()
    seed_everything(11)
    with rng_restored():
        _draws()
        torch.nn.Linear(4, 4)  # a new layer's initial weights draw from torch's RNG
    assert _draws() == expected


def test_rng_restored_restores_even_when_the_block_raises():
    seed_everything(3)
    expected = _draws()
    seed_everything(3)
    try:
        with rng_restored():
            _draws()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _draws() == expected


def test_make_generator_leaves_the_global_rng_alone():
    seed_everything(5)
    expected = float(torch.rand(1))
    seed_everything(5)
    a, b = make_generator(2), make_generator(2)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    assert float(torch.rand(1)) == expected
