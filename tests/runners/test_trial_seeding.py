"""The study seed reaches torch in a Python objective, in-process and in spawned workers."""

from __future__ import annotations

from typing import Any

import pytest

from tunesmith.experiment import tune


def draw(params: dict[str, Any]) -> dict[str, float]:
    import numpy as np
    import torch

    return {"score": params["x"], "torch": float(torch.rand(1)), "numpy": float(np.random.rand())}


def _draws(seed: int, runner: str) -> list[tuple[float, float]]:
    result = tune(
        draw,
        {"x": {"type": "float", "low": 0, "high": 1}},
        n_trials=2,
        metric="score",
        seed=seed,
        runner=runner,
    )
    trials = sorted(result.study.trials, key=lambda t: t.number)
    return [(t.user_attrs["torch"], t.user_attrs["numpy"]) for t in trials]


@pytest.mark.parametrize("runner", ["inprocess", "local"])
def test_two_runs_with_the_same_seed_draw_the_same_torch_values(runner: str) -> None:
    import torch

    torch.manual_seed(123)  # whatever state the process is in, the trial seed decides
    first = _draws(7, runner)
    torch.rand(5)
    second = _draws(7, runner)
    assert first == second
    assert first[0] != first[1]  # one seed per trial (study seed + trial number)
    assert _draws(8, runner)[0] != first[0]
