"""The optimizer and learning-rate schedule of the training section (``train.optimizer``,
``train.schedule``); :mod:`tunesmith.config.train` re-exports everything here.

Their name tuples are the single list of the names a search picks among; the engine's registries
are checked against them (see :mod:`tunesmith.config.train`).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import model_validator

from tunesmith.config.base import (
    FactorUpToOne,
    FractionBelowOne,
    Frozen,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

OptimizerName = Literal["sgd", "adagrad", "rmsprop", "adam", "adamw"]
ScheduleName = Literal["constant", "step", "exponential", "cosine", "linear"]

OPTIMIZER_NAMES: tuple[str, ...] = get_args(OptimizerName)
SCHEDULE_NAMES: tuple[str, ...] = get_args(ScheduleName)


class OptimizerConfig(Frozen):
    """``momentum`` is used by sgd and rmsprop, ``betas`` by adam and adamw; others ignore them.

    ``weight_decay`` is decoupled (AdamW) for ``adamw`` and coupled (added to the gradient) for the
    others. ``layer_decay`` d gives layer group at depth k the LR ``lr * d**k`` (head depth 0,
    the backbone's last group depth 1, ...).
    """

    name: OptimizerName = "adamw"
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.0
    momentum: FractionBelowOne = 0.0
    nesterov: bool = False
    betas: tuple[FractionBelowOne, FractionBelowOne] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    layer_decay: FactorUpToOne = 1.0

    @model_validator(mode="after")
    def _nesterov(self) -> OptimizerConfig:
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ValueError(
                "nesterov requires name 'sgd' and momentum > 0 "
                f"(name={self.name!r}, momentum={self.momentum})"
            )
        return self


class ScheduleConfig(Frozen):
    """LR schedule, stepped once per optimizer step, after an optional linear warmup.

    Steps are optimizer steps (after gradient accumulation). ``step_size`` and the exponential
    ``decay_rate`` k count steps after warmup: exponential gives ``lr * exp(-k * t)``.
    ``lr_min`` is the absolute LR that cosine and linear reach at the end for the group whose
    base LR is ``optimizer.lr``; layer-decayed groups end at the same fraction of their own LR.

    ``horizon_epochs``: the schedule is laid out over this many epochs instead of
    ``train.epochs`` (at least that many), so a run of ``e`` epochs follows the first ``e``
    epochs of the longer run's schedule: it is a prefix of that run. It applies to what depends
    on the run's length (cosine and linear decay, ``warmup_ratio``); elsewhere it would do
    nothing and is refused.
    """

    name: ScheduleName = "constant"
    warmup_steps: NonNegativeInt = 0
    warmup_ratio: FractionBelowOne | None = None
    step_size: PositiveInt = 1000
    gamma: FactorUpToOne = 0.1
    decay_rate: NonNegativeFloat = 0.0
    lr_min: NonNegativeFloat = 0.0
    horizon_epochs: PositiveInt | None = None

    @property
    def uses_horizon(self) -> bool:
        """Whether the run's length changes this schedule (cosine and linear decay over it, a
        warmup ratio is a share of it); step and exponential decay count steps from the start."""
        return self.name in ("cosine", "linear") or self.warmup_ratio is not None

    @model_validator(mode="after")
    def _horizon_applies(self) -> ScheduleConfig:
        if self.horizon_epochs is not None and not self.uses_horizon:
            raise ValueError(
                "horizon_epochs applies only to the cosine and linear schedules or a "
                f"warmup_ratio (it would do nothing); got name {self.name!r}, "
                f"horizon_epochs={self.horizon_epochs}"
            )
        return self

    @model_validator(mode="after")
    def _one_warmup(self) -> ScheduleConfig:
        if self.warmup_ratio is not None and self.warmup_steps:
            raise ValueError(
                "give warmup_steps or warmup_ratio, not both "
                f"(warmup_steps={self.warmup_steps}, warmup_ratio={self.warmup_ratio})"
            )
        return self
