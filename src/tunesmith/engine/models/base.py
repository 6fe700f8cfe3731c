"""The one model interface every adapter implements.

A fine-tunable model is a backbone split into ordered *layer groups* (input side first) and a
*head*. Freezing depth, progressive unfreezing, layer-wise LR decay and feature caching are written
once against this interface, never per architecture.

``forward_features(batch)`` runs the backbone and returns one feature tensor per example
(``[batch, feature_dim]``); ``forward_head(features)`` maps features to outputs
(``[batch, num_outputs]``). ``forward(batch)`` is their composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class FineTunable(Protocol):
    """What the training loop and the freezing strategies need from a model."""

    head: nn.Module

    def layer_groups(self) -> list[nn.Module]:
        """Backbone blocks from input to output; the head is not among them."""
        ...

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor: ...

    def forward_head(self, features: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class PrefixCacheable(Protocol):
    """Optional: run the layer groups in two parts, so a frozen prefix's output can be cached.

    ``forward_prefix(batch, stop)`` runs groups ``[0, stop)`` and returns the batched state after
    them (a dict of tensors whose first dimension is the batch; ``attention_mask`` ``[B, T]`` marks
    a right-padded sequence state); ``forward_suffix(state, start)`` runs groups ``[start, n)`` and
    the pooling, so ``forward_suffix(forward_prefix(b, s), s) == forward_features(b)``. A model
    without these methods trains without prefix caching (see :mod:`tunesmith.engine.prefix_cache`).
    """

    def forward_prefix(self, batch: dict[str, Any], stop: int) -> dict[str, torch.Tensor]: ...

    def forward_suffix(self, state: dict[str, torch.Tensor], start: int) -> torch.Tensor: ...


class BackboneWithHead(nn.Module):
    """Generic adapter: any backbone module, its ordered groups and a new head.

    ``features_fn(backbone, batch)`` returns the pooled feature tensor for the batch.
    """

    def __init__(
        self,
        backbone: nn.Module,
        groups: list[nn.Module],
        head: nn.Module,
        features_fn: Any,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self._groups = list(groups)
        self._features_fn = features_fn

    def layer_groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._features_fn(self.backbone, batch)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.forward_head(self.forward_features(batch))


def make_head(in_features: int, num_outputs: int, dropout: float = 0.0) -> nn.Module:
    """A new task head: dropout then one linear layer sized to the task."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_outputs))


@dataclass
class BuiltModel:
    """What a model builder returns: the model and everything that feeds or saves it.

    ``collate_fn`` turns the dataset's per-example dicts into batches (text: tokenise and pad per
    batch); ``modality`` is the input the model takes (``text``, ``image`` or ``any``);
    ``preprocessing`` describes the model-side input processing (part of the data fingerprint);
    ``resolved`` holds config values decided at build time (``pooling: auto`` -> ``mean``), saved on
    export so a reload builds the same model; ``tokenizer`` and ``backbone_config`` are saved
    alongside exported weights when present (``save_pretrained``).
    """

    model: nn.Module
    collate_fn: Any
    modality: str
    preprocessing: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None
    backbone_config: Any = None
