"""Map-style datasets returning one dict per example, and the collate functions that batch them.

A batch is a dict of tensors with the targets under ``"labels"``: text batches hold
``input_ids``/``attention_mask`` padded to the longest example *of that batch*; image batches hold
``pixel_values`` (``B×3×S×S``); tabular batches hold ``inputs`` (``B×D``).

``fingerprint()`` hashes a dataset's contents and preprocessing; the feature cache keys on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class _Base(Dataset):  # type: ignore[type-arg]
    """Inputs, encoded targets and a description of the preprocessing."""

    input_key = "inputs"

    def __init__(self, inputs: Any, targets: np.ndarray, preprocessing: dict[str, Any]) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        self.inputs = inputs
        self.targets = np.asarray(targets)
        self.preprocessing = dict(preprocessing)
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def _target(self, i: int) -> int | float:
        v = self.targets[i]
        return float(v) if self.targets.dtype.kind == "f" else int(v)

    def _hash_inputs(self, h: Any) -> None:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 over the examples, the targets and the preprocessing description."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(type(self).__name__.encode())
            h.update(json.dumps(self.preprocessing, sort_keys=True, default=str).encode())
            self._hash_inputs(h)
            h.update(str(self.targets.dtype).encode())
            h.update(np.ascontiguousarray(self.targets).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def deterministic(self) -> bool:
        """True when an example always yields the same tensors (no random augmentation)."""
        return True


class TextDataset(_Base):
    """``{"text": str, "labels": target}``; :class:`TextCollator` tokenises per batch."""

    input_key = "text"

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"text": self.inputs[i], "labels": self._target(i)}

    def _hash_inputs(self, h: Any) -> None:
        for text in self.inputs:
            b = str(text).encode("utf-8", errors="surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)


class ImageDataset(_Base):
    """``{"pixel_values": 3×S×S tensor, "labels": target}`` through an :class:`ImageTransform`."""

    input_key = "pixel_values"

    def __init__(
        self,
        inputs: Sequence[Any],
        targets: np.ndarray,
        preprocessing: dict[str, Any],
        transform: Any,
    ) -> None:
        super().__init__(inputs, targets, preprocessing)
        self.transform = transform

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.transform(self.inputs[i]), "labels": self._target(i)}

    def _hash_inputs(self, h: Any) -> None:
        for img in self.inputs:
            a = np.ascontiguousarray(img)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())

    @property
    def deterministic(self) -> bool:
        return bool(getattr(self.transform, "deterministic", True))


class TabularDataset(_Base):
    """``{"inputs": float tensor [D], "labels": target}`` for ``N×D`` feature arrays."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = torch.as_tensor(np.asarray(self.inputs[i], dtype=np.float32))
        return {"inputs": x, "labels": self._target(i)}

    def _hash_inputs(self, h: Any) -> None:
        a = np.ascontiguousarray(np.asarray(self.inputs))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())


def _labels_tensor(items: Sequence[dict[str, Any]]) -> torch.Tensor:
    values = [it["labels"] for it in items]
    if any(isinstance(v, float) for v in values):
        return torch.tensor(values, dtype=torch.float32)
    return torch.tensor(values, dtype=torch.long)


def stack_collate(items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack tensor fields; ``labels`` become long (classes) or float32 (regression)."""
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
        if key == "labels":
            batch[key] = _labels_tensor(items)
        else:
            batch[key] = torch.stack([torch.as_tensor(it[key]) for it in items])
    return batch


class TextCollator:
    """Tokenise a batch of texts, padding to the longest one in the batch (dynamic padding)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def lengths(self, dataset: Any) -> list[int] | None:
        """Token count of each text of ``dataset`` after truncation (for length grouping)."""
        if getattr(dataset, "input_key", "text") != "text":
            return None
        texts = [str(dataset[i]["text"]) for i in range(len(dataset))]
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        texts = [it["text"] for it in items]
        enc = self.tokenizer(
            texts,
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {
            k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        if "labels" in items[0]:
            batch["labels"] = _labels_tensor(items)
        return batch
