"""Validated raw examples of one split, and the label map built from the training labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunesmith.errors import DataError

MODALITIES = ("text", "image", "tabular")


@dataclass(frozen=True)
class RawSplit:
    """Inputs and raw labels read from one source, with where each example came from.

    ``inputs`` holds strings (text), ``HxW``/``HxWxC`` arrays (image) or 1-D arrays (tabular).
    ``rows[i]`` is the 1-based data row of example ``i`` in ``source``; ``files[i]``, when set,
    is the file it was read from (image folders).
    """

    modality: str
    inputs: Any  # Sequence[str] | list[np.ndarray] | np.ndarray
    labels: Sequence[Any]
    source: str
    rows: Sequence[int]
    files: Sequence[str] | None = None
    lines: Sequence[int] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def locate(self, i: int) -> str:
        """``file row N (line L)`` or the image file, for error messages."""
        if self.files is not None:
            return self.files[i]
        where = f"{self.source}: row {self.rows[i]}"
        if self.lines is not None:
            where += f" (line {self.lines[i]})"
        return where

    def subset(self, idx: Sequence[int] | np.ndarray) -> RawSplit:
        pick = [int(i) for i in idx]
        if isinstance(self.inputs, np.ndarray):
            inputs: Any = self.inputs[np.asarray(pick, dtype=np.int64)]
        else:
            inputs = [self.inputs[i] for i in pick]
        return RawSplit(
            modality=self.modality,
            inputs=inputs,
            labels=[self.labels[i] for i in pick],
            source=self.source,
            rows=[self.rows[i] for i in pick],
            files=None if self.files is None else [self.files[i] for i in pick],
            lines=None if self.lines is None else [self.lines[i] for i in pick],
        )

    def concat(self, other: RawSplit) -> RawSplit:
        """This split's examples followed by ``other``'s (same modality)."""
        if isinstance(self.inputs, np.ndarray) and isinstance(other.inputs, np.ndarray):
            inputs: Any = np.concatenate([self.inputs, other.inputs])
        else:
            inputs = list(self.inputs) + list(other.inputs)
        both_files = self.files is not None and other.files is not None
        both_lines = self.lines is not None and other.lines is not None
        same = self.source == other.source
        return RawSplit(
            modality=self.modality,
            inputs=inputs,
            labels=list(self.labels) + list(other.labels),
            source=self.source if same else f"{self.source} + {other.source}",
            rows=list(self.rows) + list(other.rows),
            files=[*self.files, *other.files] if both_files else None,  # type: ignore[misc]
            lines=[*self.lines, *other.lines] if both_lines else None,  # type: ignore[misc]
        )


def normalise_labels(labels: list[Any]) -> list[Any]:
    """Make labels comparable: NumPy scalars become Python ones; mixed types become strings."""
    out = [v.item() if isinstance(v, np.generic) else v for v in labels]
    kinds = {type(v) for v in out}
    if len(kinds) > 1 and not kinds <= {int, float}:
        out = [str(v) for v in out]
    return out


def regression_targets(split: RawSplit) -> np.ndarray:
    """Float targets; a non-numeric or non-finite label is a DataError naming its row."""
    out = np.empty(len(split), dtype=np.float32)
    for i, v in enumerate(split.labels):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise DataError(
                f"{split.locate(i)}: regression label must be a number, got {v!r}"
            ) from None
        if not math.isfinite(f):
            raise DataError(f"{split.locate(i)}: regression label must be finite, got {v!r}")
        out[i] = f
    return out


class LabelMap:
    """Sorted training labels ↔ class indices; saved with the model to give back original labels."""

    def __init__(self, labels: Sequence[Any]) -> None:
        self.labels: tuple[Any, ...] = tuple(labels)
        self._index = {v: i for i, v in enumerate(self.labels)}

    @classmethod
    def from_training(cls, split: RawSplit) -> LabelMap:
        """Build from the training split; one class only is a DataError."""
        distinct = set(split.labels)
        try:
            ordered = sorted(distinct)
        except TypeError:
            ordered = sorted(distinct, key=repr)
        if len(ordered) < 2:
            only = ordered[0] if ordered else None
            raise DataError(
                f"{split.source}: the training data has a single class ({only!r}); "
                "classification needs at least 2 classes"
            )
        return cls(ordered)

    def __len__(self) -> int:
        return len(self.labels)

    def encode(self, split: RawSplit, role: str = "training") -> np.ndarray:
        """Class indices for ``split``; a label never seen in training names its row."""
        out = np.empty(len(split), dtype=np.int64)
        for i, v in enumerate(split.labels):
            idx = self._index.get(v)
            if idx is None:
                raise DataError(
                    f"{split.locate(i)}: {role} label {v!r} never appears in the training data "
                    f"(training labels: {', '.join(map(repr, self.labels[:20]))})"
                )
            out[i] = idx
        return out

    def decode(self, indices: Sequence[int]) -> list[Any]:
        return [self.labels[int(i)] for i in indices]

    def counts(self, encoded: np.ndarray) -> list[int]:
        return np.bincount(encoded, minlength=len(self.labels)).tolist()

    def to_json(self) -> list[Any]:
        return list(self.labels)

    @classmethod
    def from_json(cls, data: list[Any]) -> LabelMap:
        return cls(data)
