"""Inference latency and parameter counts of a trained model (engine.inference_cost)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tunesmith.engine.inference_cost import count_parameters, measure_cost, measure_latency


class _Model(nn.Module):
    """The one model interface on a small MLP: forward_features, forward_head."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width))
        self.head = nn.Linear(width, 2)

    def forward_features(self, batch):  # type: ignore[no-untyped-def]
        return self.body(batch["x"])

    def forward_head(self, features):  # type: ignore[no-untyped-def]
        return self.head(features)


class _Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int) -> None:
        self.x = torch.from_numpy(np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        return {"x": self.x[i], "labels": torch.tensor(i % 2)}


def _collate(items):  # type: ignore[no-untyped-def]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_parameter_counts_total_and_trainable() -> None:
    model = _Model(4)
    total = (8 * 4 + 4) + (4 * 4 + 4) + (4 * 2 + 2)
    assert count_parameters(model) == {"params": total, "params_trainable": total}
    for p in model.body.parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == {"params": total, "params_trainable": 4 * 2 + 2}


def test_latency_is_the_median_pass_per_example_and_records_the_batch_size() -> None:
    ticks = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.3])  # passes of 0.5, 0.1 and 0.3 s: median 0.3
    model = _Model(4)
    model.train(True)
    out = measure_latency(
        model, _Data(30), collate_fn=_collate, batch_size=8, device="cpu", clock=lambda: next(ticks)
    )
    assert out == {"latency_ms": pytest.approx(1000 * 0.3 / 30), "latency_batch_size": 8.0,
                   "latency_examples": 30.0}  # fmt: skip
    assert model.training  # the model's mode is given back


def test_a_wider_model_costs_more_and_measuring_draws_no_random_numbers() -> None:
    torch.manual_seed(0)
    models, data = (_Model(2), _Model(1024)), _Data(256)
    state = torch.get_rng_state()
    small, big = (
        measure_cost(m, data, collate_fn=_collate, batch_size=64, device="cpu") for m in models
    )
    assert torch.equal(torch.get_rng_state(), state)
    assert big["params"] > 100 * small["params"]
    assert big["latency_ms"] > small["latency_ms"] > 0
    assert small["params_trainable"] == small["params"]


def test_latency_needs_passes_and_examples() -> None:
    with pytest.raises(ValueError, match="passes must be >= 1"):
        measure_latency(_Model(2), _Data(4), collate_fn=_collate, batch_size=2, passes=0)
    with pytest.raises(ValueError, match="at least one example"):
        measure_latency(_Model(2), _Data(0), collate_fn=_collate, batch_size=2, device="cpu")
