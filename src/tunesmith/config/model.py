"""Which pretrained model to fine-tune and how to shape its new head.

``kind`` is a registry key (``tunesmith.engine.models.registry``); the other fields are read by the
adapter of that kind. The number of outputs is not configured: it is derived from the data (the
number of classes, or 1 for regression). ``num_labels``, when given, is checked against the data.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, model_validator

from tunesmith.config.base import Frozen

ModelKind = Literal["hf_text", "efficientnet", "torchvision", "timm", "custom"]
Pooling = Literal["auto", "mean", "cls", "pooler"]

#: ``model.kind`` values, the keys of the engine's model registry (a test keeps them in sync).
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)

_FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ATTR_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_0-9][\w]*)*$")

#: Kinds whose head is found by attribute path (``model.head``) and may be kept (replace_head).
HEAD_PATH_KINDS: tuple[str, ...] = ("custom", "torchvision")
DEFAULT_HEAD_DROPOUT = 0.1

DEFAULT_NAMES = {"hf_text": "packaged:minilm", "efficientnet": "efficientnet-lite0"}


class ModelConfig(Frozen):
    """``model:`` section of a fine-tuning config."""

    kind: ModelKind = "hf_text"
    name: str | None = Field(
        default=None,
        description="hf_text: hub id, local folder or 'packaged:minilm'; efficientnet: "
        "'efficientnet-lite0'; torchvision/timm: the architecture name.",
    )
    pretrained: bool = True
    weights: str | None = Field(
        default=None,
        description="efficientnet: a local state-dict file instead of the packaged one",
    )
    max_length: int = Field(default=128, ge=8, le=8192)
    pooling: Pooling = "auto"
    dropout: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="dropout of the new head, before its linear layer (unset: 0.1); only with "
        "replace_head: true. The encoder's own dropout is encoder_dropout.",
    )
    encoder_dropout: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="hf_text: the encoder's hidden and attention dropout (unset: the "
        "checkpoint's own values)",
    )
    image_size: int = Field(default=64, ge=16, le=1024)
    factory: str | None = Field(default=None, description="custom: 'package.module:function'")
    factory_kwargs: dict[str, int | float | str | bool | None] = Field(default_factory=dict)
    head: str | None = Field(default=None, description="custom: attribute path of the head")
    groups: tuple[str, ...] = Field(default=(), description="custom: layer-group attribute paths")
    replace_head: bool = True
    num_labels: int | None = Field(default=None, ge=1)
    num_layers: int | None = Field(
        default=None,
        ge=1,
        description="hf_text: keep only the encoder's first N layers (a smaller student for "
        "distill); unset: every layer",
    )

    @model_validator(mode="after")
    def _check_kind_fields(self) -> ModelConfig:
        if self.kind == "custom":
            if not self.factory:
                raise ValueError("model.factory is required when model.kind is 'custom'")
            if not _FACTORY_RE.match(self.factory):
                raise ValueError(
                    f"model.factory must look like 'package.module:function', got {self.factory!r}"
                )
            if not self.head:
                raise ValueError("model.head (the head attribute path) is required for 'custom'")
            if not self.groups:
                raise ValueError(
                    "model.groups (layer-group attribute paths) is required for 'custom'"
                )
        elif self.factory is not None:
            raise ValueError(
                f"model.factory is only read when model.kind is 'custom', not {self.kind!r}"
            )
        for path in (self.head, *self.groups):
            if path is not None and not _ATTR_RE.match(path):
                raise ValueError(
                    f"model head/group paths must be dotted attribute names, got {path!r}"
                )
        if self.kind in ("torchvision", "timm") and not self.name:
            raise ValueError(f"model.name (the architecture) is required for kind {self.kind!r}")
        self._check_no_ops()
        return self

    def _check_no_ops(self) -> None:
        """Settings the chosen kind would ignore are errors, not silent no-ops."""
        if self.kind not in HEAD_PATH_KINDS:
            if self.head is not None:
                raise ValueError(
                    f"model.head: only kinds {', '.join(HEAD_PATH_KINDS)} read a head path; "
                    f"{self.kind!r} always gets a new head; got {self.head!r}"
                )
            if not self.replace_head:
                raise ValueError(
                    f"model.replace_head: only kinds {', '.join(HEAD_PATH_KINDS)} can keep "
                    f"their own head; {self.kind!r} always gets a new head; got false"
                )
        if not self.replace_head and self.dropout is not None:
            raise ValueError(
                "model.dropout: it is the new head's dropout, and replace_head is false (the "
                f"model keeps its own head), so it would do nothing; got {self.dropout}"
            )
        if self.num_layers is not None and self.kind != "hf_text":
            raise ValueError(
                f"model.num_layers: only hf_text encoders can keep their first N layers; for "
                f"{self.kind!r} pick a smaller architecture in model.name; got {self.num_layers}"
            )
        if self.encoder_dropout is not None and self.kind != "hf_text":
            raise ValueError(
                f"model.encoder_dropout: only hf_text encoders read it, not {self.kind!r}; "
                f"got {self.encoder_dropout}"
            )

    @property
    def head_dropout(self) -> float:
        """The new head's dropout: ``dropout``, or 0.1 when unset."""
        return DEFAULT_HEAD_DROPOUT if self.dropout is None else self.dropout

    @property
    def resolved_name(self) -> str | None:
        """``name``, or the default checkpoint of this kind."""
        return self.name or DEFAULT_NAMES.get(self.kind)
