"""A trial's trained weights, kept small: only what training could have changed.

A fine-tuning job starts from pretrained weights that every trial shares, so a trial's result is
fully described by the parameters that trained (``requires_grad`` at the end of training, which
for progressive unfreezing is the widest set) plus every buffer (BatchNorm statistics). For a
``last_k`` trial on MiniLM that is a few MB instead of the whole 90 MB model.

:func:`save_trained` writes them as one safetensors file (atomically); :func:`load_trained` puts
them back into a freshly built model of the same config, refusing a file that does not fit it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.utils.atomic import atomic_write_bytes

WEIGHTS_FILE = "weights.safetensors"


class WeightsError(TunesmithError):
    """Saved weights that cannot be read or do not fit the model."""


def trained_state(model: Any) -> dict[str, Any]:
    """The parameters that train (``requires_grad``) and every saved buffer, on the CPU.

    Non-persistent buffers (e.g. a BERT's ``position_ids``) are not part of the model's state and
    are rebuilt with it, so they are left out.
    """
    saved = set(model.state_dict().keys())
    out: dict[str, Any] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            out[name] = param.detach().cpu().contiguous().clone()
    for name, buf in model.named_buffers():
        if name in saved:
            out[name] = buf.detach().cpu().contiguous().clone()
    return out


def save_trained(model: Any, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write :func:`trained_state` of ``model`` to ``path``; ``info`` goes in the metadata."""
    from safetensors.torch import save

    target = Path(path)
    meta = {"format": "pt", "tunesmith": json.dumps(info or {}, sort_keys=True, default=str)}
    atomic_write_bytes(target, save(trained_state(model), metadata=meta))
    return target


def _info(meta: dict[str, str] | None) -> dict[str, Any]:
    info = json.loads((meta or {}).get("tunesmith", "{}"))
    return info if isinstance(info, dict) else {}


def read_info(path: str | Path) -> dict[str, Any]:
    """The ``info`` mapping stored by :func:`save_trained` (the file's header only)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return _info(handle.metadata())
    except (OSError, ValueError, SafetensorError) as exc:
        raise WeightsError(f"{path}: cannot read the trained weights: {exc}") from None


def load_trained(model: Any, path: str | Path) -> dict[str, Any]:
    """Load weights saved by :func:`save_trained` into ``model`` (built from the same config);
    return the ``info`` saved with them.

    Every stored tensor must name a tensor of ``model`` with the same shape; the ones not stored
    keep their pretrained values.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            info = _info(handle.metadata())
            state = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (OSError, ValueError, SafetensorError) as exc:
        raise WeightsError(f"{path}: cannot read the trained weights: {exc}") from None
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise WeightsError(
            f"{path}: {len(unknown)} stored tensors are not in the model (first: {unknown[0]!r}); "
            "the weights come from another model config"
        )
    for name, tensor in state.items():
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(own[name].shape)}"
            )
    model.load_state_dict(state, strict=False)
    return info
