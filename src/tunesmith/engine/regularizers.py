"""Explicit penalties added to the training loss.

* L1: ``l1 * sum |w|`` and L2: ``l2 / 2 * sum w**2`` over trainable weights (parameters with at
  least 2 dims, so biases and normalisation weights are not penalised);
* L2-SP: ``l2_sp / 2 * sum (w - w0)**2`` over trainable *backbone* parameters, ``w0`` the weights
  at the start of fine-tuning (the pretrained ones), snapshotted when the regulariser is built.

Weight decay proper is the optimizer's (decoupled in AdamW, coupled in the others); gradient
clipping happens in the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunesmith.config.train import RegularizationConfig

if TYPE_CHECKING:
    import torch


def _weights(params: Any) -> list[torch.Tensor]:
    return [p for p in params if p.requires_grad and p.ndim >= 2]


def l1_penalty(params: Any) -> torch.Tensor | float:
    return sum((p.abs().sum() for p in _weights(params)), 0.0)


def l2_penalty(params: Any) -> torch.Tensor | float:
    return sum((p.pow(2).sum() for p in _weights(params)), 0.0) * 0.5


class L2SP:
    """Penalty toward a snapshot of the backbone (every parameter outside the head)."""

    def __init__(self, model: Any) -> None:
        head = {id(p) for p in model.head.parameters()}
        self.pairs = [(p, p.detach().clone()) for p in model.parameters() if id(p) not in head]

    def __call__(self) -> torch.Tensor | float:
        total: Any = 0.0
        for p, p0 in self.pairs:
            if p.requires_grad:
                total = total + (p - p0.to(p.device)).pow(2).sum()
        return total * 0.5


class Regularizer:
    """``penalty()`` = the configured sum of L1, L2 and L2-SP terms for ``model``."""

    def __init__(self, model: Any, cfg: RegularizationConfig) -> None:
        self.model = model
        self.cfg = cfg
        self.l2sp = L2SP(model) if cfg.l2_sp > 0 else None

    @property
    def active(self) -> bool:
        return self.cfg.l1 > 0 or self.cfg.l2 > 0 or self.l2sp is not None

    def penalty(self) -> torch.Tensor | float:
        total: Any = 0.0
        if self.cfg.l1 > 0:
            total = total + self.cfg.l1 * l1_penalty(self.model.parameters())
        if self.cfg.l2 > 0:
            total = total + self.cfg.l2 * l2_penalty(self.model.parameters())
        if self.l2sp is not None:
            total = total + self.cfg.l2_sp * self.l2sp()
        return total
