"""Example objectives for ``tunesmith tune`` (run from the repository root so that
``examples.objectives`` is importable)."""

from __future__ import annotations

import math
from typing import Any


def branin(params: dict[str, Any]) -> float:
    """The Branin function (minimum 0.397887 at three points); minimise it."""
    x, y = float(params["x"]), float(params["y"])
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


def learning_curve(params: dict[str, Any], reporter: Any) -> dict[str, float]:
    """A toy training run: reports a loss each "epoch" and stops when told it is pruned.

    The loss decays faster for learning rates near 0.01 and settles lower for moderate width.
    """
    lr, width = float(params["lr"]), int(params["width"])
    floor = 0.05 + abs(math.log10(width) - 1.5) * 0.1
    speed = 1.0 / (1.0 + abs(math.log10(lr) + 2.0) * 3)
    loss = 1.0
    for epoch in range(int(params.get("epochs", 10))):
        loss = floor + (1.0 - floor) * math.exp(-speed * (epoch + 1))
        if reporter.report(epoch, loss):
            break
    return {"loss": loss, "accuracy": 1.0 - loss}
