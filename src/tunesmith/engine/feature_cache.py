"""Cache of backbone features for runs whose backbone stays frozen.

When no layer group trains (strategy ``head``, or a plan that never unfreezes), the backbone is a
fixed function in eval mode: its features can be computed once per dataset and the head trained on
them, across epochs and across the trials a worker process runs. This is safe only when the data
has no random augmentation, which the caller vouches for by passing a cache at all.

The key holds a hash of the backbone's weights and buffers (everything outside the head), the
layer index (the full backbone: ``groups=N``; a frozen prefix: ``prefix=S/N``, see
:mod:`tunesmith.engine.prefix_cache`), the model class, the dataset's role and length, and
``extra``: the caller's data fingerprint and preprocessing config. Entries live in an in-memory LRU
bounded by bytes and, optionally, in a directory as safetensors files, written atomically (a
private temporary file renamed into place) so processes sharing the directory never read half a
file; a file that does not load or whose row counts disagree is ignored (a miss).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.engine.sampling import LoaderRequest

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Entry = dict[str, "torch.Tensor"]


def _nbytes(entry: Entry) -> int:
    return sum(t.numel() * t.element_size() for t in entry.values())


def consistent(entry: Entry) -> bool:
    """Whether ``entry`` is a whole cache entry: labels, and every row count agreeing with them.

    ``seq.*`` tensors hold variable-length rows packed end to end (``lengths`` says how long each
    example's is); every other tensor has one row per example.
    """
    labels = entry.get("labels")
    if labels is None:
        return False
    n = int(labels.shape[0]) if labels.dim() else -1
    lengths = entry.get("lengths")
    total = int(lengths.sum()) if lengths is not None else None
    for name, tensor in entry.items():
        rows = int(tensor.shape[0]) if tensor.dim() else -1
        want = total if name.startswith("seq.") else n
        if want is None or rows != want:
            return False
    return True


def _read(path: Path) -> Entry | None:
    """The entry saved at ``path``; None (a miss) when it is unreadable or incomplete."""
    from safetensors.torch import load_file

    try:
        entry = load_file(str(path))
    except Exception as exc:  # a truncated or foreign file is a miss, never an error
        log.warning("feature cache: ignoring unreadable %s (%s)", path, exc)
        return None
    if not consistent(entry):
        log.warning("feature cache: ignoring inconsistent %s", path)
        return None
    return entry


class FeatureCache:
    """In-memory LRU (at most ``max_bytes``) with an optional safetensors directory behind it."""

    def __init__(self, max_bytes: int = 1 << 30, directory: str | Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = Path(directory) if directory is not None else None
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.build_seconds = 0.0
        """Seconds spent between a miss and the ``put`` of the same key: what building entries
        cost (later trials that hit the cache do not pay it)."""
        self._missed_at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def get(self, key: str) -> Entry | None:
        """The entry for ``key`` from memory, else from disk; None when absent."""
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        path = self._path(key)
        entry = _read(path) if path is not None and path.is_file() else None
        if entry is not None:
            self._remember(key, entry)
            self.hits += 1
            return entry
        self.misses += 1
        self._missed_at[key] = time.perf_counter()
        return None

    def put(self, key: str, entry: Entry) -> None:
        """Store ``entry`` in memory (evicting the least recently used) and on disk if set."""
        missed = self._missed_at.pop(key, None)
        path = self._path(key)
        if path is not None:
            from safetensors.torch import save

            from tunesmith.utils.atomic import atomic_write_bytes

            path.parent.mkdir(parents=True, exist_ok=True)
            # a private temporary file renamed into place: two processes writing the same key
            # both leave a complete file, and a reader never sees a half-written one
            atomic_write_bytes(path, save({k: v.contiguous() for k, v in entry.items()}))
        self._remember(key, entry)
        if missed is not None:
            self.build_seconds += time.perf_counter() - missed

    def _remember(self, key: str, entry: Entry) -> None:
        size = _nbytes(entry)
        if size > self.max_bytes:
            log.debug(
                "feature cache entry of %d bytes exceeds the %d-byte bound", size, self.max_bytes
            )
            return
        if key in self._entries:
            self.bytes -= _nbytes(self._entries.pop(key))
        self._entries[key] = entry
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self.bytes -= _nbytes(old)


def weights_hash(model: Any, stop: int | None = None) -> str:
    """Hash of ``model``'s state outside the head (names, shapes, dtypes, bytes).

    With ``stop``, only what can feed the first ``stop`` layer groups: the groups from ``stop`` on
    are left out too (tensors outside every group stay in).
    """
    import torch

    skip = [model.head]
    if stop is not None:
        skip.extend(model.layer_groups()[stop:])
    left_out = {id(t) for m in skip for t in m.state_dict(keep_vars=True).values()}
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict(keep_vars=True).items()):
        if id(tensor) in left_out:
            continue
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{tuple(tensor.shape)}|{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(
    model: Any,
    role: str,
    length: int,
    extra: str,
    weights: str | None = None,
    stop: int | None = None,
) -> str:
    """The cache key for one dataset (``role`` e.g. ``train``/``val``) of ``length`` examples.

    ``stop`` None: the whole backbone's features; else the state after groups ``[0, stop)``.
    """
    n = len(model.layer_groups())
    parts = [
        type(model).__qualname__,
        f"groups={n}" if stop is None else f"prefix={stop}/{n}",
        weights or weights_hash(model, stop),
        role,
        str(length),
        extra,
    ]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=20).hexdigest()


def compute_features(model: Any, dataset: Any, request: LoaderRequest) -> Entry:
    """``{"features": [N, D], "labels": [N, ...]}`` on the CPU, in dataset order."""
    import contextlib

    import torch
    from torch.utils.data import DataLoader

    device, dtype = request.device, request.dtype
    loader = DataLoader(  # own generator: leave torch's global RNG (dropout masks) untouched
        dataset,
        batch_size=request.batch_size,
        collate_fn=request.collate_fn,
        generator=torch.Generator(),
    )
    feats, labels = [], []
    model.train(False)  # the caller restores its own train/eval layout afterwards
    ctx = (
        torch.autocast(device_type=device.type, dtype=dtype)
        if dtype is not None
        else contextlib.nullcontext()
    )
    with torch.no_grad():
        for batch in loader:
            moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            with ctx:
                feats.append(model.forward_features(moved).detach().cpu())
            labels.append(batch["labels"].cpu())
    return {"features": torch.cat(feats), "labels": torch.cat(labels)}


class FeatureDataset:
    """A dataset over cached features whose ``__getitems__`` returns a ready batch."""

    def __init__(self, entry: Entry) -> None:
        self.features = entry["features"]
        self.labels = entry["labels"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"features": self.features[i], "labels": self.labels[i]}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        import torch

        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return {"features": self.features[idx], "labels": self.labels[idx]}


def _identity(batch: Any) -> Any:
    return batch


def cached_loader(dataset: Any, role: str, request: LoaderRequest) -> Any:
    """A loader over already-batched cached rows, shuffled (``train``) exactly as the uncached
    loader of ``request`` would, so the same seed gives the same batches."""
    return request.loader(role, dataset, _identity)


def feature_entries(cache: FeatureCache, model: Any, request: LoaderRequest) -> tuple[Entry, Entry]:
    """The train and validation entries of ``request``'s datasets (computed on a miss)."""
    weights = weights_hash(model)
    entries: list[Entry] = []
    for role, dataset in request.roles():
        key = cache_key(model, role, len(dataset), request.key_extra, weights)
        entry = cache.get(key)
        if entry is None:
            entry = compute_features(model, dataset, request)
            cache.put(key, entry)
        entries.append(entry)
    return entries[0], entries[1]


def cached_loaders(cache: FeatureCache, model: Any, request: LoaderRequest) -> tuple[Any, Any]:
    """Train and validation loaders over cached features (computed on a miss)."""
    train, val = feature_entries(cache, model, request)
    return (
        cached_loader(FeatureDataset(train), "train", request),
        cached_loader(FeatureDataset(val), "val", request),
    )
