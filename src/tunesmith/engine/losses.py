"""Losses keyed by ``train.loss.name``; each factory returns ``loss(outputs, labels) -> scalar``.

Classification outputs are logits ``[B, C]`` and labels class indices ``[B]``; regression outputs
are ``[B, 1]`` or ``[B]`` and labels floats ``[B]`` or ``[B, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tunesmith.config.train import LossConfig
from tunesmith.errors import ConfigError, DataError
from tunesmith.utils.registry import Registry

if TYPE_CHECKING:
    import torch

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def balanced_weights(class_counts: Sequence[int]) -> list[float]:
    """scikit-learn's "balanced" weights: ``n / (n_classes * count)``; absent classes get 0."""
    n = float(sum(class_counts))
    k = len(class_counts)
    return [n / (k * c) if c > 0 else 0.0 for c in class_counts]


def class_weight_tensor(
    cfg: LossConfig, num_classes: int, class_counts: Sequence[int] | None
) -> torch.Tensor | None:
    """The per-class weight tensor for ``cfg.class_weights`` (None when unweighted)."""
    import torch

    if cfg.class_weights is None:
        return None
    if cfg.class_weights == "balanced":
        if class_counts is None:
            raise DataError("train.loss.class_weights 'balanced' needs the training label counts")
        weights = balanced_weights(class_counts)
    else:
        weights = list(cfg.class_weights)
    if len(weights) != num_classes:
        raise ConfigError(
            f"train.loss.class_weights must have one weight per class ({num_classes}), "
            f"got {len(weights)}"
        )
    return torch.tensor(weights, dtype=torch.float32)


def _regression_pair(
    outputs: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return outputs.reshape(-1).float(), labels.reshape(-1).float()


def _cross_entropy(cfg: LossConfig, weight: torch.Tensor | None, num_classes: int) -> LossFn:
    import torch.nn.functional as F

    def loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w = None if weight is None else weight.to(outputs.device)
        return F.cross_entropy(
            outputs.float(), labels.long(), weight=w, label_smoothing=cfg.label_smoothing
        )

    return loss


def _alpha_tensor(cfg: LossConfig, num_classes: int) -> torch.Tensor | None:
    import torch

    if cfg.alpha is None:
        return None
    if isinstance(cfg.alpha, list):
        if len(cfg.alpha) != num_classes:
            raise ConfigError(
                f"train.loss.alpha must have one value per class ({num_classes}), "
                f"got {len(cfg.alpha)}"
            )
        return torch.tensor(cfg.alpha, dtype=torch.float32)
    if num_classes != 2:
        raise ConfigError(
            f"train.loss.alpha as one number needs a binary task (it weights class 1 by alpha, "
            f"class 0 by 1 - alpha); this task has {num_classes} classes, got {cfg.alpha}"
        )
    return torch.tensor([1.0 - cfg.alpha, cfg.alpha], dtype=torch.float32)


def _focal(cfg: LossConfig, weight: torch.Tensor | None, num_classes: int) -> LossFn:
    """Focal loss ``-alpha_y * (1 - p_y)**gamma * log p_y`` (times the class weight), averaged."""
    import torch.nn.functional as F

    alpha = _alpha_tensor(cfg, num_classes)

    def loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.long()
        logp = F.log_softmax(outputs.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)
        per = -((1.0 - logp.exp()) ** cfg.gamma) * logp
        if alpha is not None:
            per = per * alpha.to(outputs.device)[labels]
        if weight is not None:
            per = per * weight.to(outputs.device)[labels]
        return per.mean()

    return loss


def _mse(cfg: LossConfig, weight: torch.Tensor | None, num_classes: int) -> LossFn:
    import torch.nn.functional as F

    return lambda outputs, labels: F.mse_loss(*_regression_pair(outputs, labels))


def _mae(cfg: LossConfig, weight: torch.Tensor | None, num_classes: int) -> LossFn:
    import torch.nn.functional as F

    return lambda outputs, labels: F.l1_loss(*_regression_pair(outputs, labels))


def _huber(cfg: LossConfig, weight: torch.Tensor | None, num_classes: int) -> LossFn:
    import torch.nn.functional as F

    return lambda outputs, labels: F.huber_loss(*_regression_pair(outputs, labels), delta=cfg.delta)


LossFactory = Callable[[LossConfig, "torch.Tensor | None", int], LossFn]

#: loss name (``train.loss.name``) -> factory(cfg, class_weight_tensor, num_outputs).
LOSSES: Registry[LossFactory] = Registry(
    "loss",
    {
        "cross_entropy": _cross_entropy,
        "focal": _focal,
        "mse": _mse,
        "mae": _mae,
        "huber": _huber,
    },
)


def build_loss(
    cfg: LossConfig, num_outputs: int, class_counts: Sequence[int] | None = None
) -> LossFn:
    """The loss function for ``cfg``; ``class_counts`` feeds ``class_weights: balanced``."""
    factory = LOSSES.lookup(cfg.name, "train.loss.name")
    weight = class_weight_tensor(cfg, num_outputs, class_counts)
    return factory(cfg, weight, num_outputs)
