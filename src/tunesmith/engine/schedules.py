"""Learning-rate schedules as pure functions of the optimizer step (no torch).

``lr_factor(step, total_steps, cfg, base_lr)`` is the multiplier of a group's base LR for the
optimizer step ``step`` (0-based: the factor used *for* that step). A linear warmup of ``W`` steps
(``warmup_steps``, or ``round(warmup_ratio * total_steps)``) gives ``(step + 1) / W`` for
``step < W``; then, with ``t = step - W`` and ``T = max(1, total_steps - W)``:

* constant:     ``1``
* step:         ``gamma ** (t // step_size)``
* exponential:  ``exp(-decay_rate * t)``  (t in optimizer steps)
* cosine:       ``f + (1 - f) * (1 + cos(pi * min(t, T) / T)) / 2``
* linear:       ``1 - (1 - f) * min(t, T) / T``

where ``f = lr_min / base_lr`` (``base_lr`` = ``train.optimizer.lr``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tunesmith.config.train import ScheduleConfig
from tunesmith.utils.registry import Registry

if TYPE_CHECKING:
    import torch

ScheduleFn = Callable[[int, int, ScheduleConfig, float], float]


def warmup_steps(total_steps: int, cfg: ScheduleConfig) -> int:
    """Number of warmup steps for a run of ``total_steps`` optimizer steps."""
    if cfg.warmup_ratio is not None:
        return int(round(cfg.warmup_ratio * total_steps))
    return cfg.warmup_steps


def _constant(t: int, horizon: int, cfg: ScheduleConfig, floor: float) -> float:
    return 1.0


def _step(t: int, horizon: int, cfg: ScheduleConfig, floor: float) -> float:
    return float(cfg.gamma ** (t // cfg.step_size))


def _exponential(t: int, horizon: int, cfg: ScheduleConfig, floor: float) -> float:
    return math.exp(-cfg.decay_rate * t)


def _cosine(t: int, horizon: int, cfg: ScheduleConfig, floor: float) -> float:
    progress = min(t, horizon) / horizon
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _linear(t: int, horizon: int, cfg: ScheduleConfig, floor: float) -> float:
    return 1.0 - (1.0 - floor) * min(t, horizon) / horizon


#: schedule name (``train.schedule.name``) -> f(t, T, cfg, floor) after warmup.
SCHEDULES: Registry[ScheduleFn] = Registry(
    "schedule",
    {
        "constant": _constant,
        "step": _step,
        "exponential": _exponential,
        "cosine": _cosine,
        "linear": _linear,
    },
)


def lr_factor(step: int, total_steps: int, cfg: ScheduleConfig, base_lr: float = 1.0) -> float:
    """Multiplier of the base LR for optimizer step ``step`` of ``total_steps``."""
    fn = SCHEDULES.lookup(cfg.name, "train.schedule.name")
    warm = warmup_steps(total_steps, cfg)
    if step < warm:
        return (step + 1) / warm
    horizon = max(1, total_steps - warm)
    floor = cfg.lr_min / base_lr if base_lr > 0 else 0.0
    return fn(step - warm, horizon, cfg, floor)


class StageScale:
    """A mutable extra LR multiplier (progressive unfreezing's per-stage factor)."""

    def __init__(self) -> None:
        self.value = 1.0


def lambda_lr(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    cfg: ScheduleConfig,
    base_lr: float,
    scale: StageScale | None = None,
) -> Any:
    """Torch ``LambdaLR`` over :func:`lr_factor`, times ``scale.value`` when given.

    Call ``.step()`` once after each optimizer step.
    """
    from torch.optim.lr_scheduler import LambdaLR

    holder = scale or StageScale()

    def factor(step: int) -> float:
        return lr_factor(step, total_steps, cfg, base_lr) * holder.value

    return LambdaLR(optimizer, factor)


def refresh_lr(scheduler: Any) -> None:
    """Set each group's LR to what ``scheduler`` (from :func:`lambda_lr`) gives for its current
    step, after its stage scale changed (a new progressive-unfreezing stage)."""
    groups = scheduler.optimizer.param_groups
    for group, fn, base in zip(groups, scheduler.lr_lambdas, scheduler.base_lrs, strict=True):
        group["lr"] = base * fn(scheduler.last_epoch)
