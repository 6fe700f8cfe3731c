"""Cache what a frozen prefix of layer groups computes, and train only the suffix on it.

With ``last_k`` (or a progressive plan that never reaches the first groups), groups ``[0, stop)``
are frozen for the whole run and in eval mode; fed by deterministic preprocessing, their output per
example never changes. It is computed once per dataset (per cache key) and training runs only the
suffix groups ``[stop, n)``, the pooling and the head on it. The suffix keeps its own train/eval
layout, so its dropout draws the same masks in the same order as the uncached path.

A model opts in with two methods (see :class:`tunesmith.engine.models.base.PrefixCacheable`):
``forward_prefix(batch, stop) -> dict[str, Tensor]`` (batched state after group ``stop - 1``) and
``forward_suffix(state, start) -> features``; ``prefix_cacheable(stop) -> bool`` may refuse. A
state holding ``attention_mask`` ``[B, T]`` (right-padded) is a sequence state: every tensor
shaped ``[B, T, ...]`` is stored without its padding (``seq.*`` rows packed end to end, with
``lengths``) and padded again per batch. Before caching, one batch is checked: prefix, storage
round trip and suffix must give the features of ``forward_features`` (else: no cache, a warning).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tunesmith.engine.feature_cache import (
    Entry,
    FeatureCache,
    cache_key,
    cached_loader,
    weights_hash,
)
from tunesmith.engine.sampling import LoaderRequest

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MASK = "attention_mask"
STATE = "state."
SEQ = "seq."


class NotCacheable(Exception):
    """This state cannot be stored (e.g. left padding); train without the prefix cache."""


def supports_prefix(model: Any, stop: int) -> bool:
    """Whether ``model`` can run groups ``[0, stop)`` and ``[stop, n)`` separately."""
    if not (hasattr(model, "forward_prefix") and hasattr(model, "forward_suffix")):
        return False
    check = getattr(model, "prefix_cacheable", None)
    return bool(check(stop)) if check is not None else True


def pack(state: dict[str, torch.Tensor], labels: torch.Tensor) -> Entry:
    """One batch's state as cache rows (CPU; sequences without their padding)."""
    import torch

    entry: Entry = {"labels": labels.detach().cpu()}
    mask = state.get(MASK)
    if mask is not None:
        m = mask.detach().cpu().bool()
        lengths = m.sum(dim=1)
        right = torch.arange(m.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        if not torch.equal(m, right):
            raise NotCacheable("the attention mask is not right-padded")
        entry["lengths"] = lengths.long()
    for name, tensor in state.items():
        if name == MASK:
            continue
        t = tensor.detach().cpu()
        if mask is not None and t.dim() >= 2 and tuple(t.shape[:2]) == tuple(mask.shape):
            entry[SEQ + name] = t[m].contiguous()
        else:
            entry[STATE + name] = t.contiguous()
    return entry


def concat(parts: Sequence[Entry]) -> Entry:
    import torch

    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


class PrefixDataset:
    """Cached prefix states; ``__getitems__`` returns a ready batch (sequences padded again)."""

    def __init__(self, entry: Entry) -> None:
        import torch

        self.entry = entry
        self.labels = entry["labels"]
        lengths = entry.get("lengths")
        self.lengths = lengths.tolist() if lengths is not None else None
        self.offsets = [0, *torch.cumsum(lengths, 0).tolist()] if lengths is not None else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        import torch

        idx = torch.as_tensor(list(indices), dtype=torch.long)
        batch: dict[str, Any] = {"labels": self.labels[idx]}
        width = max((self.lengths[i] for i in indices), default=0) if self.lengths else 0
        for key, tensor in self.entry.items():
            if key.startswith(STATE):
                batch[key] = tensor[idx]
            elif key.startswith(SEQ):
                assert self.offsets is not None and self.lengths is not None
                out = tensor.new_zeros((len(indices), width, *tensor.shape[1:]))
                for row, i in enumerate(indices):
                    out[row, : self.lengths[i]] = tensor[self.offsets[i] : self.offsets[i + 1]]
                batch[STATE + key[len(SEQ) :]] = out
        if self.lengths is not None:
            lengths = torch.as_tensor([self.lengths[i] for i in indices])
            batch[STATE + MASK] = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return batch


def batch_state(batch: dict[str, Any]) -> dict[str, Any]:
    """The model state held in a :class:`PrefixDataset` batch."""
    return {k[len(STATE) :]: v for k, v in batch.items() if k.startswith(STATE)}


def _close(a: torch.Tensor, b: torch.Tensor, dtype: Any) -> bool:
    tol = 1e-4 if dtype is None else 2e-2
    scale = 1.0 + float(a.abs().max()) if a.numel() else 1.0
    return a.shape == b.shape and float((a.float() - b.float()).abs().max()) <= tol * scale


def compute_prefix(
    model: Any, dataset: Any, stop: int, request: LoaderRequest, check: bool = False
) -> Entry | None:
    """The prefix states of ``dataset`` in order; None when ``check`` finds a mismatch."""
    import torch
    from torch.utils.data import DataLoader

    device, dtype = request.device, request.dtype
    loader = DataLoader(  # own generator: leave torch's global RNG (dropout masks) untouched
        dataset,
        batch_size=request.batch_size,
        collate_fn=request.collate_fn,
        generator=torch.Generator(),
    )
    model.train(False)  # the caller restores its own train/eval layout afterwards
    ctx = (
        torch.autocast(device_type=device.type, dtype=dtype)
        if dtype is not None
        else contextlib.nullcontext()
    )
    parts: list[Entry] = []
    with torch.no_grad():
        for batch in loader:
            moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            with ctx:
                part = pack(model.forward_prefix(moved, stop), batch["labels"])
                if check and not parts:  # prefix -> storage -> suffix == forward_features
                    again = PrefixDataset(part).__getitems__(range(len(part["labels"])))
                    state = {k: v.to(device) for k, v in batch_state(again).items()}
                    if not _close(
                        model.forward_features(moved), model.forward_suffix(state, stop), dtype
                    ):
                        log.warning(
                            "prefix cache: %s's suffix does not reproduce its features at group "
                            "%d; training without the prefix cache",
                            type(model).__name__,
                            stop,
                        )
                        return None
            parts.append(part)
    return concat(parts)


def prefix_loaders(
    cache: FeatureCache, model: Any, stop: int, request: LoaderRequest
) -> tuple[Any, Any, Callable[[dict[str, Any]], Any]] | None:
    """Train/validation loaders over cached prefix states and the forward that consumes them.

    None when the model's prefix cannot be cached (then train as usual). The train loader
    shuffles exactly as the uncached loader of ``request`` would.
    """
    weights = weights_hash(model, stop)
    loaders: list[Any] = []
    checked = False  # one batch is checked per fit, on the first entry computed
    for role, dataset in request.roles():
        key = cache_key(model, role, len(dataset), request.key_extra, weights, stop=stop)
        entry = cache.get(key)
        if entry is None:
            try:
                entry = compute_prefix(model, dataset, stop, request, not checked)
                checked = True
            except NotCacheable as exc:
                log.warning("prefix cache: %s; training without it", exc)
                return None
            if entry is None:
                return None
            cache.put(key, entry)
        loaders.append(cached_loader(PrefixDataset(entry), role, request))

    def forward(batch: dict[str, Any]) -> Any:
        return model.forward_head(model.forward_suffix(batch_state(batch), stop))

    return loaders[0], loaders[1], forward
