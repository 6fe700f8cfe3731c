"""A user's own network (``model.kind: custom``) behind the one model interface.

``model.factory: package.module:function`` returns an ``nn.Module`` (called with
``model.factory_kwargs``); ``model.head`` names the attribute holding its classifier (dotted,
e.g. ``fc`` or ``classifier.1``), ``model.groups`` the attributes of its layer groups from input to
output. The head attribute is swapped for an identity so the module's own ``forward`` returns the
features, and a new head (sized from the old head's last ``nn.Linear``) takes its place unless
``replace_head: false``. The module is called with the batch's ``pixel_values`` or ``inputs``
tensor, or with ``input_ids``/``attention_mask`` keywords for text. When the module is an
``nn.Sequential`` whose groups are its own children (in order), a frozen prefix of them can be
cached (``forward_prefix``/``forward_suffix``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tunesmith.config.model import ModelConfig
from tunesmith.engine.data.datasets import stack_collate
from tunesmith.engine.models.base import BuiltModel, make_head
from tunesmith.errors import ConfigError

log = logging.getLogger(__name__)


def get_attr(module: nn.Module, path: str, field: str) -> nn.Module:
    obj: Any = module
    for part in path.split("."):
        if part.isdigit() and isinstance(obj, (nn.Sequential, nn.ModuleList)):
            obj = None if int(part) >= len(obj) else obj[int(part)]
        else:
            obj = getattr(obj, part, None)
        if obj is None:
            break
    if not isinstance(obj, nn.Module):
        children = ", ".join(name for name, _ in module.named_children())
        raise ConfigError(
            f"{field}: {type(module).__name__} has no submodule {path!r}; "
            f"its top-level modules are: {children or '(none)'}"
        )
    return obj


def set_attr(module: nn.Module, path: str, value: nn.Module) -> None:
    parent_path, _, last = path.rpartition(".")
    parent = get_attr(module, parent_path, "model.head") if parent_path else module
    if last.isdigit() and isinstance(parent, (nn.Sequential, nn.ModuleList)):
        parent[int(last)] = value
    else:
        setattr(parent, last, value)


def head_in_features(head: nn.Module, field: str = "model.head") -> int:
    """Input width of ``head``: the ``in_features`` of its first ``nn.Linear``."""
    if isinstance(head, nn.Linear):
        return int(head.in_features)
    for m in head.modules():
        if isinstance(m, nn.Linear):
            return int(m.in_features)
    raise ConfigError(
        f"{field}: cannot size a new head: {type(head).__name__} contains no nn.Linear; "
        "set model.replace_head: false to keep it"
    )


class WrappedModule(nn.Module):
    """Any ``nn.Module`` whose head was swapped for an identity (a :class:`FineTunable`)."""

    def __init__(self, module: nn.Module, head: nn.Module, groups: Sequence[nn.Module]) -> None:
        super().__init__()
        self.module = module
        self.head = head
        self._groups = list(groups)

    def layer_groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor:
        for key in ("pixel_values", "inputs"):
            if key in batch:
                out = self.module(batch[key])
                break
        else:
            kwargs = {k: batch[k] for k in ("input_ids", "attention_mask") if k in batch}
            out = self.module(**kwargs)
        if not isinstance(out, torch.Tensor):
            raise ConfigError(
                f"model: the module returned {type(out).__name__}, expected a feature tensor"
            )
        return out.flatten(1) if out.dim() > 2 else out

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.forward_head(self.forward_features(batch))

    def _boundary(self, stop: int) -> int | None:
        """Index of the ``nn.Sequential`` child that ends group ``stop - 1``; None if unknown."""
        if not isinstance(self.module, nn.Sequential) or not 1 <= stop < len(self._groups):
            return None
        children = list(self.module.children())
        position = {id(c): i for i, c in enumerate(children)}
        where = [position.get(id(g)) for g in self._groups]
        if any(i is None for i in where) or where != sorted(where):  # type: ignore[type-var]
            return None
        end = where[stop - 1]
        assert end is not None
        grouped = {id(g) for g in self._groups}
        for child in children[:end]:  # ungrouped children run in train mode when uncached
            if id(child) not in grouped and any(_stochastic(m) for m in child.modules()):
                return None
        return end

    def prefix_cacheable(self, stop: int) -> bool:
        """Only an ``nn.Sequential`` whose groups are its own children, in order."""
        return self._boundary(stop) is not None

    def forward_prefix(self, batch: dict[str, Any], stop: int) -> dict[str, torch.Tensor]:
        end = self._boundary(stop)
        assert end is not None
        x = next(batch[k] for k in ("pixel_values", "inputs") if k in batch)
        seq: nn.Sequential = self.module  # type: ignore[assignment]  # checked by _boundary
        return {"x": seq[: end + 1](x)}

    def forward_suffix(self, state: dict[str, torch.Tensor], start: int) -> torch.Tensor:
        end = self._boundary(start)
        assert end is not None
        seq: nn.Sequential = self.module  # type: ignore[assignment]  # checked by _boundary
        out = seq[end + 1 :](state["x"])
        return out.flatten(1) if out.dim() > 2 else out


def _stochastic(module: nn.Module) -> bool:
    return isinstance(module, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))


def wrap(
    module: nn.Module,
    head_path: str,
    group_paths: Sequence[str],
    num_outputs: int,
    dropout: float,
    replace_head: bool = True,
) -> WrappedModule:
    """Swap ``head_path`` for an identity and wrap ``module`` with its groups and a head."""
    old_head = get_attr(module, head_path, "model.head")
    groups = [get_attr(module, p, f"model.groups[{i}]") for i, p in enumerate(group_paths)]
    head = make_head(head_in_features(old_head), num_outputs, dropout) if replace_head else old_head
    set_attr(module, head_path, nn.Identity())
    return WrappedModule(module, head, groups)


def load_factory(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"model.factory: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"model.factory: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"model.factory: {spec!r} is not callable")
    return obj


def build_custom(cfg: ModelConfig, num_outputs: int) -> BuiltModel:
    assert cfg.factory is not None and cfg.head is not None  # checked by ModelConfig
    factory = load_factory(cfg.factory)
    try:
        module = factory(**cfg.factory_kwargs)
    except TypeError as exc:
        raise ConfigError(f"model.factory_kwargs: {cfg.factory} refused them: {exc}") from None
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"model.factory: {cfg.factory} must return a torch nn.Module, "
            f"got {type(module).__name__}"
        )
    model = wrap(module, cfg.head, cfg.groups, num_outputs, cfg.head_dropout, cfg.replace_head)
    return BuiltModel(
        model=model,
        collate_fn=stack_collate,
        modality="any",
        preprocessing={"factory": cfg.factory, "image_size": cfg.image_size},
    )
