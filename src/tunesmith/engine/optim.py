"""Optimizer parameter groups and the optimizer registry.

Groups are built once, over *every* parameter of the model, so that progressive unfreezing only has
to flip ``requires_grad``: torch optimizers skip parameters whose ``.grad`` is ``None``.

* depth: the head is depth 0, the backbone's last layer group depth 1, ..., the first group depth
  ``n``; parameters in no group (embeddings outside ``layer_groups()``, say) get depth ``n``.
  Each depth's LR is ``lr * layer_decay ** depth``.
* no weight decay on biases and normalisation weights (every parameter with fewer than 2 dims).
* ``weight_decay`` is decoupled for ``adamw`` and coupled (L2 in the gradient) for the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tunesmith.config.train import OptimizerConfig
from tunesmith.utils.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

ParamGroup = dict[str, Any]


def parameter_depths(model: Any) -> dict[int, int]:
    """``id(param) -> depth`` for every parameter of ``model`` (see the module docstring)."""
    groups = model.layer_groups()
    n = len(groups)
    depths: dict[int, int] = {}
    for p in model.head.parameters():
        depths[id(p)] = 0
    for index, group in enumerate(groups):
        for p in group.parameters():
            depths.setdefault(id(p), n - index)
    for p in model.parameters():
        depths.setdefault(id(p), n)
    return depths


def param_groups(model: Any, cfg: OptimizerConfig) -> list[ParamGroup]:
    """Optimizer groups: one per (depth, decay or not), each with its own ``lr``/``weight_decay``.

    Groups carry ``depth`` and ``decay`` keys for inspection (torch keeps extra keys).
    """
    depths = parameter_depths(model)
    buckets: dict[tuple[int, bool], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        buckets.setdefault((depths[id(p)], p.ndim >= 2), []).append(p)
    out = []
    for (depth, decay), params in sorted(buckets.items()):
        out.append(
            {
                "params": params,
                "lr": cfg.lr * cfg.layer_decay**depth,
                "weight_decay": cfg.weight_decay if decay else 0.0,
                "depth": depth,
                "decay": decay,
            }
        )
    return out


def _sgd(groups: list[ParamGroup], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def _adagrad(groups: list[ParamGroup], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adagrad(groups, lr=cfg.lr, eps=cfg.eps)


def _rmsprop(groups: list[ParamGroup], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    import torch

    return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum, eps=cfg.eps)


def _adam(groups: list[ParamGroup], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def _adamw(groups: list[ParamGroup], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    import torch

    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


OptimizerFactory = Callable[[list[ParamGroup], OptimizerConfig], "torch.optim.Optimizer"]

#: optimizer name (``train.optimizer.name``) -> factory(param_groups, cfg).
OPTIMIZERS: Registry[OptimizerFactory] = Registry(
    "optimizer",
    {"sgd": _sgd, "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam, "adamw": _adamw},
)


def build_optimizer(model: Any, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The configured optimizer over :func:`param_groups` of ``model``."""
    factory = OPTIMIZERS.lookup(cfg.name, "train.optimizer.name")
    return factory(param_groups(model, cfg), cfg)
