"""Device and precision choice."""

from __future__ import annotations

import logging
from typing import Any

from tunesmith.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(spec: Any = "auto") -> Any:
    """``auto`` -> ``cuda`` when available, else ``mps`` when available, else ``cpu``."""
    import torch

    if isinstance(spec, torch.device):
        return spec
    if spec in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {spec!r} but CUDA is not available here")
    return device


def autocast_dtype(precision: str, device: Any) -> Any:
    """The autocast dtype for ``precision`` on ``device``; None means full fp32.

    Reduced precision is used on CUDA only; ``auto`` picks bf16 where the GPU supports it.
    """
    import torch

    if device.type != "cuda":
        if precision in ("bf16", "fp16"):
            log.warning("precision %s needs CUDA; training in fp32 on %s", precision, device)
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
