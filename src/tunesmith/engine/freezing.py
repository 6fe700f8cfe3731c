"""Freezing strategies: a pure plan (which layer groups train in which epoch) and its application.

Groups are indexed input side first (``0 .. n-1``); the head always trains.

* ``full``: every group;
* ``head``: none (the backbone is frozen);
* ``last_k``: the last ``k`` groups (``k`` larger than the model: every group);
* ``progressive``: none in the first ``unfreeze_every`` epochs, then one more group from the
  output side every ``unfreeze_every`` epochs; stage ``s`` scales every LR by
  ``stage_lr_factor ** s`` when that is set;
* ``lora``: low-rank adapters (:mod:`tunesmith.engine.lora`, ``train.lora``) in every group but
  the embeddings (group 0, which stays frozen, so its outputs can be cached), or in the last
  ``train.lora.layers`` groups only (the groups below stay frozen: a longer cached prefix); only
  the adapters and the head have ``requires_grad``, the backbone's own weights stay frozen.

Frozen groups get ``requires_grad=False`` and eval mode (dropout off, BatchNorm statistics fixed);
parameters outside every group freeze with the first (input-side) group. ``freeze_bn`` keeps every
BatchNorm layer in eval mode, trainable or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunesmith.config.train import FreezingConfig, LoraConfig
from tunesmith.engine.lora import lora_groups
from tunesmith.engine.schedules import StageScale
from tunesmith.utils.registry import Registry

Plan = Callable[[FreezingConfig, int, int], frozenset[int]]


def _full(cfg: FreezingConfig, n_groups: int, epoch: int) -> frozenset[int]:
    return frozenset(range(n_groups))


def _head(cfg: FreezingConfig, n_groups: int, epoch: int) -> frozenset[int]:
    return frozenset()


def _last_k(cfg: FreezingConfig, n_groups: int, epoch: int) -> frozenset[int]:
    return frozenset(range(max(0, n_groups - cfg.k), n_groups))


def progressive_stage(cfg: FreezingConfig, epoch: int) -> int:
    return epoch // cfg.unfreeze_every


def _progressive(cfg: FreezingConfig, n_groups: int, epoch: int) -> frozenset[int]:
    stage = min(progressive_stage(cfg, epoch), n_groups)
    return frozenset(range(n_groups - stage, n_groups))


def _lora(cfg: FreezingConfig, n_groups: int, epoch: int) -> frozenset[int]:
    return lora_groups(None, n_groups)  # the default adapters; see trainable_groups


#: strategy name (``train.freezing.strategy``) -> plan(cfg, n_groups, epoch).
STRATEGIES: Registry[Plan] = Registry(
    "freezing strategy",
    {"full": _full, "head": _head, "last_k": _last_k, "progressive": _progressive, "lora": _lora},
)


def trainable_groups(
    cfg: FreezingConfig, n_groups: int, epoch: int, lora: LoraConfig | None = None
) -> frozenset[int]:
    """Indices of the layer groups that train in ``epoch`` (0-based); ``lora``: the adapters'
    settings with the ``lora`` strategy (None: the defaults)."""
    if cfg.strategy == "lora":
        return lora_groups(lora, n_groups)
    plan = STRATEGIES.lookup(cfg.strategy, "train.freezing.strategy")
    return plan(cfg, n_groups, epoch)


def lr_stage_factor(cfg: FreezingConfig, epoch: int) -> float:
    """The progressive strategy's LR multiplier in ``epoch`` (1 otherwise)."""
    if cfg.strategy != "progressive" or cfg.stage_lr_factor is None:
        return 1.0
    return float(cfg.stage_lr_factor ** progressive_stage(cfg, epoch))


def backbone_frozen_throughout(cfg: FreezingConfig, n_groups: int, epochs: int) -> bool:
    """Whether no layer group trains in any epoch (the condition for caching features)."""
    return all(not trainable_groups(cfg, n_groups, e) for e in range(epochs))


def frozen_prefix(
    cfg: FreezingConfig, n_groups: int, epochs: int, lora: LoraConfig | None = None
) -> int:
    """How many input-side groups stay frozen in every epoch: groups ``[0, stop)``.

    ``n_groups`` when no group ever trains (the whole backbone is frozen), 0 when the first group
    trains at some point. Those groups are in eval mode for the whole run, so what they compute
    for an example never changes (the condition for caching their outputs). ``lora``: as for
    :func:`trainable_groups`.
    """
    stop = n_groups
    for epoch in range(epochs):
        plan = trainable_groups(cfg, n_groups, epoch, lora)
        if plan:
            stop = min(stop, min(plan))
    return stop


def _is_batchnorm(module: Any) -> bool:
    from torch import nn

    return isinstance(module, nn.modules.batchnorm._BatchNorm)


class Freezer:
    """Applies a freezing plan to a :class:`FineTunable` epoch by epoch."""

    def __init__(
        self,
        model: Any,
        cfg: FreezingConfig,
        scale: StageScale | None = None,
        lora: LoraConfig | None = None,
    ) -> None:
        """With the ``lora`` strategy, adapters (``lora``, else the defaults) are injected here."""
        if cfg.strategy == "lora":
            from tunesmith.engine.lora import apply_lora

            lora = lora or LoraConfig()
            apply_lora(model, lora)
        self.lora = lora
        self.model = model
        self.cfg = cfg
        self.scale = scale or StageScale()
        self.groups = model.layer_groups()
        self.trainable: frozenset[int] | None = None

    def start_epoch(self, epoch: int) -> bool:
        """Set ``requires_grad`` for ``epoch``'s plan; True when the plan or LR scale changed."""
        plan = trainable_groups(self.cfg, len(self.groups), epoch, self.lora)
        factor = lr_stage_factor(self.cfg, epoch)
        changed = plan != self.trainable or factor != self.scale.value
        self.trainable, self.scale.value = plan, factor
        if self.cfg.strategy == "lora":
            from tunesmith.engine.lora import is_lora_param

            for name, p in self.model.named_parameters():
                p.requires_grad_(is_lora_param(name))
        else:
            everything = len(plan) == len(self.groups)
            for p in self.model.parameters():
                p.requires_grad_(everything)  # parameters outside any group
            for index, group in enumerate(self.groups):
                for p in group.parameters():
                    p.requires_grad_(index in plan)
        for p in self.model.head.parameters():
            p.requires_grad_(True)
        self.train_mode()
        return changed

    def train_mode(self) -> None:
        """Training mode for trainable parts, eval mode for frozen ones (and BN if freeze_bn)."""
        plan = self.trainable or frozenset()
        if not plan:
            self.model.train(False)
            self.model.head.train()
        else:
            self.model.train()
            for index, group in enumerate(self.groups):
                if index not in plan:
                    group.train(False)
        if self.cfg.freeze_bn:
            for module in self.model.modules():
                if _is_batchnorm(module):
                    module.train(False)
