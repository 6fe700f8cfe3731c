"""Optional vision backbones from torchvision (``kind: torchvision``) and timm (``kind: timm``).

Neither is a dependency of tunesmith (neither imports beside torch 2.13 here); when missing, the
builder raises :class:`MissingDependencyError` naming the install. Both are thin adapters over
:func:`tunesmith.engine.models.custom.wrap`: the classifier is swapped for an identity and a new
head added; layer groups are the top-level children that hold parameters, in definition order.
"""

from __future__ import annotations

from torch import nn

from tunesmith.config.model import ModelConfig
from tunesmith.engine.data.datasets import stack_collate
from tunesmith.engine.models.base import BuiltModel, make_head
from tunesmith.engine.models.custom import WrappedModule, wrap
from tunesmith.errors import ConfigError, MissingDependencyError

_HEAD_NAMES = ("fc", "classifier", "head", "heads")


def _import(name: str) -> object:
    import importlib

    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a binary mismatch with the installed torch
        raise MissingDependencyError(name, purpose=f"model.kind {name!r}") from None


def _top_groups(module: nn.Module, skip: str) -> list[str]:
    return [
        name
        for name, child in module.named_children()
        if name != skip and any(True for _ in child.parameters())
    ]


def build_torchvision(cfg: ModelConfig, num_outputs: int) -> BuiltModel:
    _import("torchvision")
    from torchvision import models as tv_models  # type: ignore[import-not-found]

    assert cfg.name is not None
    try:
        module = tv_models.get_model(cfg.name, weights="DEFAULT" if cfg.pretrained else None)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"model.name: unknown torchvision model {cfg.name!r}: {exc}") from None
    head = cfg.head or next((h for h in _HEAD_NAMES if hasattr(module, h)), None)
    if head is None:
        raise ConfigError(f"model.head: cannot find the classifier of {cfg.name!r}; name it")
    groups = list(cfg.groups) or _top_groups(module, head)
    model = wrap(module, head, groups, num_outputs, cfg.head_dropout, cfg.replace_head)
    return BuiltModel(
        model, stack_collate, "image", {"torchvision": cfg.name, "image_size": cfg.image_size}
    )


def build_timm(cfg: ModelConfig, num_outputs: int) -> BuiltModel:
    timm = _import("timm")
    assert cfg.name is not None
    try:
        module = timm.create_model(cfg.name, pretrained=cfg.pretrained, num_classes=0)  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise ConfigError(f"model.name: cannot create timm model {cfg.name!r}: {exc}") from None
    groups = [getattr(module, g) for g in cfg.groups] or [
        child for _, child in module.named_children() if any(True for _ in child.parameters())
    ]
    head = make_head(int(module.num_features), num_outputs, cfg.head_dropout)
    model = WrappedModule(module, head, groups)
    return BuiltModel(
        model, stack_collate, "image", {"timm": cfg.name, "image_size": cfg.image_size}
    )
