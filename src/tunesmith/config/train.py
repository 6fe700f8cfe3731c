"""The training section of an experiment: every knob a search may turn.

YAML shape (defaults shown)::

    train:
      epochs: 3
      batch_size: 32
      group_by_length: false        # true = batches of similar-length texts (less padding)
      grad_accum_steps: 1
      eval_every_steps: null        # null = evaluate once per epoch
      metric: null                  # null = accuracy (classification) / mse (regression)
      precision: auto               # auto | fp32 | bf16 | fp16 (reduced precision on CUDA only)
      device: auto                  # auto | cpu | cuda | cuda:N | mps
      max_grad_norm: null           # null = no clipping
      optimizer: {name: adamw, lr: 0.001, weight_decay: 0.0, momentum: 0.0, nesterov: false,
                  betas: [0.9, 0.999], eps: 1.0e-8, layer_decay: 1.0}
      schedule: {name: constant, warmup_steps: 0, warmup_ratio: null, step_size: 1000,
                 gamma: 0.1, decay_rate: 0.0, lr_min: 0.0,
                 horizon_epochs: null}      # null = epochs; else the schedule's length in
                                            #   epochs (>= epochs: this run is its prefix)
      loss: {name: cross_entropy, label_smoothing: 0.0, class_weights: null, gamma: 2.0,
             alpha: null, delta: 1.0}
      regularization: {l1: 0.0, l2: 0.0, l2_sp: 0.0}
      freezing: {strategy: full, k: 1, unfreeze_every: 1, stage_lr_factor: null, freeze_bn: false}
      lora: null                    # with strategy lora: {r: 8, alpha: null (= 2r), dropout: 0.0,
                                    #   targets: attention, layers: null}  (attention | all_linear;
                                    #   layers: k = adapters in the last k layer groups only)
      early_stopping: {patience: null, min_delta: 0.0}

The names a search picks among (``optimizer.name``, ``schedule.name``, ``loss.name``,
``freezing.strategy``, ``metric``) are the keys of the engine's registries; the tuples here (and
in :mod:`tunesmith.config.optimization`, re-exported here) are the single list of those names,
and a test keeps both in sync. The config layer cannot import the engine, so the engine's
registries are checked against these tuples, not the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from tunesmith.config.base import (
    FractionBelowOne,
    Frozen,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from tunesmith.config.optimization import (  # noqa: F401  (re-exported: one import for a trial's knobs)
    OPTIMIZER_NAMES,
    SCHEDULE_NAMES,
    OptimizerConfig,
    OptimizerName,
    ScheduleConfig,
    ScheduleName,
)
from tunesmith.errors import ConfigError

LossName = Literal["cross_entropy", "focal", "mse", "mae", "huber"]
StrategyName = Literal["full", "head", "last_k", "progressive", "lora"]
LoraTargets = Literal["attention", "all_linear"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Task = Literal["classification", "regression"]

LOSS_NAMES: tuple[str, ...] = get_args(LossName)
STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)

#: Selection metrics and the task each applies to (the engine's metric registry uses these keys).
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    *(
        f"{m}_{avg}"
        for m in ("precision", "recall", "f1")
        for avg in ("macro", "micro", "weighted")
    ),
    "roc_auc",
    "log_loss",
)
REGRESSION_METRICS: tuple[str, ...] = ("mse", "rmse", "mae", "r2")
METRIC_NAMES: tuple[str, ...] = CLASSIFICATION_METRICS + REGRESSION_METRICS
DEFAULT_METRIC: Mapping[str, str] = {"classification": "accuracy", "regression": "mse"}
CLASSIFICATION_LOSSES = ("cross_entropy", "focal")

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class LossConfig(Frozen):
    """``label_smoothing`` is for cross_entropy; ``class_weights`` for cross_entropy and focal
    (``"balanced"`` = n / (n_classes * count) from the training labels); ``gamma`` and ``alpha``
    for focal (alpha: a float weights the positive class of a binary task, a list one weight per
    class); ``delta`` for huber."""

    name: LossName = "cross_entropy"
    label_smoothing: FractionBelowOne = 0.0
    class_weights: Literal["balanced"] | list[float] | None = None
    gamma: NonNegativeFloat = 2.0
    alpha: float | list[float] | None = None
    delta: PositiveFloat = 1.0

    @field_validator("class_weights")
    @classmethod
    def _weights(cls, v: object) -> object:
        if isinstance(v, list) and (not v or any(w <= 0 for w in v)):
            raise ValueError("must be 'balanced' or a non-empty list of weights > 0")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | list[float] | None) -> float | list[float] | None:
        values = v if isinstance(v, list) else [] if v is None else [v]
        if isinstance(v, list) and not v:
            raise ValueError("must be a float in [0, 1] or a non-empty list")
        if any(not 0 <= a <= 1 for a in values):
            raise ValueError("each alpha must be in [0, 1]")
        return v

    @model_validator(mode="after")
    def _applies(self) -> LossConfig:
        if self.name not in CLASSIFICATION_LOSSES and self.class_weights is not None:
            raise ValueError(f"class_weights applies only to {CLASSIFICATION_LOSSES}")
        if self.name != "cross_entropy" and self.label_smoothing:
            raise ValueError("label_smoothing applies only to cross_entropy")
        return self


class RegularizationConfig(Frozen):
    """Explicit penalties added to the loss: ``l1 * sum|w|``, ``l2/2 * sum w^2`` over trainable
    weights, and ``l2_sp/2 * sum (w - w0)^2`` over backbone weights (w0 = pretrained)."""

    l1: NonNegativeFloat = 0.0
    l2: NonNegativeFloat = 0.0
    l2_sp: NonNegativeFloat = 0.0


class FreezingConfig(Frozen):
    """Which layer groups train. ``full``: all; ``head``: the head only; ``last_k``: the last ``k``
    groups and the head; ``progressive``: the head first, then one more group (output side first)
    every ``unfreeze_every`` epochs, the LR scaled by ``stage_lr_factor ** stage`` when given."""

    strategy: StrategyName = "full"
    k: NonNegativeInt = 1
    unfreeze_every: PositiveInt = 1
    stage_lr_factor: PositiveFloat | None = None
    freeze_bn: bool = False


class LoraConfig(Frozen):
    """Low-rank adapters (``train.freezing.strategy: lora``): rank ``r``, scale ``alpha / r``
    (``alpha: null`` ties it to the rank: ``alpha = 2 * r``, the usual choice), dropout on the
    adapters' input, and the linear layers adapted (``attention``: the query, key and value
    projections; ``all_linear``: every linear layer of the encoder layers). ``layers: k`` puts
    adapters in the last ``k`` layer groups only (as ``last_k`` counts them; null: every encoder
    layer): the groups below stay frozen and unchanged, so the prefix cache serves them."""

    r: PositiveInt = 8
    alpha: PositiveFloat | None = None
    dropout: FractionBelowOne = 0.0
    targets: LoraTargets = "attention"
    layers: PositiveInt | None = None

    @property
    def resolved_alpha(self) -> float:
        """``alpha``, or ``2 * r`` when it is tied to the rank."""
        return float(self.alpha if self.alpha is not None else 2 * self.r)


class EarlyStoppingConfig(Frozen):
    """Stop after ``patience`` evaluations without an improvement larger than ``min_delta``."""

    patience: PositiveInt | None = None
    min_delta: NonNegativeFloat = 0.0


class TrainConfig(Frozen):
    """How one trial trains; see the module docstring for the YAML shape."""

    epochs: PositiveInt = 3
    batch_size: PositiveInt = 32
    group_by_length: bool = False
    grad_accum_steps: PositiveInt = 1
    eval_every_steps: PositiveInt | None = None
    metric: str | None = None
    precision: Precision = "auto"
    device: str = "auto"
    max_grad_norm: PositiveFloat | None = None
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    freezing: FreezingConfig = Field(default_factory=FreezingConfig)
    lora: LoraConfig | None = None
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str | None) -> str | None:
        if v is not None and v not in METRIC_NAMES:
            raise ValueError(f"must be one of {', '.join(METRIC_NAMES)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE_RE.match(v):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return v

    @model_validator(mode="after")
    def _lr_min(self) -> TrainConfig:
        if self.schedule.lr_min >= self.optimizer.lr and self.schedule.name in ("cosine", "linear"):
            raise ValueError(
                f"schedule.lr_min must be < optimizer.lr ({self.optimizer.lr}), "
                f"got {self.schedule.lr_min}"
            )
        return self

    @model_validator(mode="after")
    def _horizon(self) -> TrainConfig:
        horizon = self.schedule.horizon_epochs
        if horizon is not None and horizon < self.epochs:
            raise ValueError(
                f"schedule.horizon_epochs must be >= epochs ({self.epochs}): a run follows the "
                f"first epochs of its schedule; got {horizon}"
            )
        return self

    @property
    def horizon_epochs(self) -> int:
        """The epochs the LR schedule is laid out over (``schedule.horizon_epochs`` or
        ``epochs``)."""
        return self.schedule.horizon_epochs or self.epochs

    @model_validator(mode="after")
    def _lora(self) -> TrainConfig:
        if self.lora is not None and self.freezing.strategy != "lora":
            raise ValueError(
                "train.lora applies only to train.freezing.strategy 'lora' (it would do nothing); "
                f"got strategy {self.freezing.strategy!r}"
            )
        return self

    @property
    def resolved_lora(self) -> LoraConfig:
        """``lora`` or its defaults (for the lora strategy)."""
        return self.lora or LoraConfig()

    def resolved_metric(self, task: str) -> str:
        """The selection metric: ``metric`` or the task's default; checked against the task."""
        metric = self.metric or DEFAULT_METRIC[task]
        allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
        if metric not in allowed:
            raise ConfigError(
                f"train.metric {metric!r} does not apply to a {task} task; "
                f"rule: one of {', '.join(allowed)}"
            )
        return metric

    def check_task(self, task: str) -> None:
        """Raise :class:`ConfigError` when the loss or metric does not fit ``task``."""
        if task not in get_args(Task):
            raise ConfigError(f"task must be classification or regression, got {task!r}")
        is_cls_loss = self.loss.name in CLASSIFICATION_LOSSES
        if is_cls_loss != (task == "classification"):
            raise ConfigError(f"train.loss.name {self.loss.name!r} does not apply to a {task} task")
        self.resolved_metric(task)


def with_task_defaults(value: Any) -> Any:
    """A job mapping (``data``, ``train``, ...) with the task's defaults filled in.

    A regression task whose ``train.loss.name`` is not given gets ``mse``: the loss default
    (cross-entropy) is a classification loss. Anything else is returned as it is.
    """
    if not isinstance(value, Mapping):
        return value
    data = value.get("data")
    task = data.get("task") if isinstance(data, Mapping) else getattr(data, "task", None)
    train = value.get("train")
    if task != "regression":
        return value
    if isinstance(train, TrainConfig):
        if "name" in train.loss.model_fields_set:
            return value
        mse = train.loss.model_copy(update={"name": "mse"})
        return {**value, "train": train.model_copy(update={"loss": mse})}
    if train is not None and not isinstance(train, Mapping):
        return value
    given = (train or {}).get("loss")
    if given is not None and (not isinstance(given, Mapping) or "name" in given):
        return value
    return {**value, "train": {**(train or {}), "loss": {**(given or {}), "name": "mse"}}}
