"""Model builders keyed by ``model.kind``.

Each builder is ``builder(cfg: ModelConfig, num_outputs: int) -> BuiltModel``; adding a kind is one
file and one line here (and the literal in :mod:`tunesmith.config.model`, kept in sync by a test).
Builders are referenced by import path so that nothing heavy loads until a model is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from tunesmith.config.model import ModelConfig
from tunesmith.engine.models.base import BuiltModel
from tunesmith.errors import ConfigError
from tunesmith.utils.registry import Registry

Builder = Callable[[ModelConfig, int], BuiltModel]

#: ``model.kind`` -> "module:function" of its builder.
MODEL_BUILDERS: Registry[str] = Registry(
    "model kind",
    {
        "hf_text": "tunesmith.engine.models.hf_text:build_hf_text",
        "efficientnet": "tunesmith.engine.models.efficientnet:build_efficientnet",
        "torchvision": "tunesmith.engine.models.vision_extra:build_torchvision",
        "timm": "tunesmith.engine.models.vision_extra:build_timm",
        "custom": "tunesmith.engine.models.custom:build_custom",
    },
)


def get_builder(kind: str) -> Builder:
    target = MODEL_BUILDERS.lookup(kind, "model.kind")
    module, _, attr = target.partition(":")
    fn: Builder = getattr(importlib.import_module(module), attr)
    return fn


def build_model(cfg: ModelConfig, *, num_outputs: int) -> BuiltModel:
    """Build the model of ``cfg.kind`` with a new head of ``num_outputs`` outputs."""
    if num_outputs < 1:
        raise ConfigError(f"the model needs at least one output, got {num_outputs}")
    if cfg.num_labels is not None and cfg.num_labels != num_outputs:
        raise ConfigError(
            f"model.num_labels is {cfg.num_labels} but the data gives {num_outputs} outputs"
        )
    return get_builder(cfg.kind)(cfg, num_outputs)
