"""Image preprocessing and augmentation written with torch only (torchvision is optional).

:class:`ImageTransform` turns one ``H×W[×C]`` array into a ``3×S×S`` float tensor: scale to
[0, 1], resize, optional training augmentation (random crop with padding, horizontal flip,
rotation, colour jitter), then normalise to [-1, 1] or by mean/std. It is a plain picklable object
so it travels to DataLoader worker processes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.config.data import AugmentConfig, ImageConfig


def _to_chw(image: Any, value_scale: float) -> torch.Tensor:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(np.array(arr, dtype=np.float32)).permute(2, 0, 1)
    t = t / 255.0 if arr.dtype == np.uint8 else t * value_scale
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return t.clamp(0.0, 1.0)


def _random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="constant", value=0.0)
    top = int(torch.randint(0, 2 * pad + 1, ()).item())
    left = int(torch.randint(0, 2 * pad + 1, ()).item())
    return padded[:, top : top + h, left : left + w]


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    angle = math.radians(float(torch.empty(()).uniform_(-degrees, degrees)))
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype)[None]
    grid = F.affine_grid(theta, [1, *x.shape], align_corners=False)
    return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[
        0
    ]


def _jitter(x: torch.Tensor, amount: float) -> torch.Tensor:
    def factor() -> float:
        return float(torch.empty(()).uniform_(1.0 - amount, 1.0 + amount))

    x = x * factor()  # brightness
    mean = x.mean()
    x = (x - mean) * factor() + mean  # contrast
    gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    x = (x - gray) * factor() + gray  # saturation
    return x.clamp(0.0, 1.0)


class ImageTransform:
    """Deterministic preprocessing, plus augmentation when ``augment`` is given."""

    def __init__(
        self,
        image_size: int,
        image: ImageConfig,
        augment: AugmentConfig | None = None,
        value_scale: float = 1.0,
    ) -> None:
        self.image_size = image_size
        self.normalize = image.normalize
        self.mean = torch.tensor(image.mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(image.std, dtype=torch.float32)[:, None, None]
        self.augment = augment if augment is not None and augment.enabled else None
        self.value_scale = value_scale

    @property
    def deterministic(self) -> bool:
        return self.augment is None

    def describe(self) -> dict[str, Any]:
        """JSON-able description: part of the data fingerprint and of the exported model."""
        return {
            "image_size": self.image_size,
            "normalize": self.normalize,
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "value_scale": self.value_scale,
            "augment": None if self.augment is None else self.augment.model_dump(),
        }

    def __call__(self, image: Any) -> torch.Tensor:
        x = _to_chw(image, self.value_scale)
        s = self.image_size
        if tuple(x.shape[1:]) != (s, s):
            x = F.interpolate(
                x[None], size=(s, s), mode="bilinear", align_corners=False, antialias=True
            )[0].clamp(0.0, 1.0)
        aug = self.augment
        if aug is not None:
            if aug.crop_padding:
                x = _random_crop(x, aug.crop_padding)
            if aug.hflip and bool(torch.rand(()) < 0.5):
                x = x.flip(-1)
            if aug.rotation:
                x = _rotate(x, aug.rotation)
            if aug.color_jitter:
                x = _jitter(x, aug.color_jitter)
        if self.normalize == "minus_one_one":
            return x * 2.0 - 1.0
        return (x - self.mean) / self.std
