"""From a :class:`DataConfig` to validated train/validation(/test) datasets.

Reading, validation, splitting and label encoding happen here, before any model work. The test
split is *not* materialised until :meth:`DataBundle.test` is called: a test file is not even opened
before then, and rows carved out of the training file for testing stay hidden.
``access_hook(split_name)`` is called whenever a split ("train", "validation", "test") is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.config.data import DataConfig
from tunesmith.engine.data.builtin import load_builtin
from tunesmith.engine.data.datasets import (
    ImageDataset,
    TabularDataset,
    TextDataset,
    _Base,
    stack_collate,
)
from tunesmith.engine.data.raw import LabelMap, RawSplit, regression_targets
from tunesmith.engine.data.readers import read_file
from tunesmith.engine.data.splits import kfold_indices, split_indices, subsample_indices
from tunesmith.engine.data.transforms import ImageTransform
from tunesmith.errors import ConfigError, DataError

log = logging.getLogger(__name__)

AccessHook = Callable[[str], None]


@dataclass
class DataBundle:
    """Everything the job needs from the data. ``folds`` is set when ``data.kfold`` is."""

    task: str
    modality: str
    label_map: LabelMap | None
    num_outputs: int
    train: _Base
    validation: _Base
    preprocessing: dict[str, Any]
    class_counts: list[int] | None
    folds: list[tuple[_Base, _Base]] | None = None
    has_test: bool = False
    _test_factory: Callable[[], _Base] | None = field(default=None, repr=False)
    _test: _Base | None = field(default=None, repr=False)

    def test(self) -> _Base | None:
        """Read (once) and return the test split; None when there is none."""
        if self._test is None and self._test_factory is not None:
            self._test = self._test_factory()
        return self._test

    @property
    def collate_fn(self) -> Callable[[Any], Any]:
        """Collate for image/tabular batches; text batches need the model's tokenizer collator."""
        return stack_collate


def _value_scale(split: RawSplit) -> float:
    """Scale for float image arrays: [0, 1] as is, [0, 255] divided by 255; else an error."""
    inputs = split.inputs
    if isinstance(inputs, np.ndarray):
        if inputs.dtype.kind != "f":
            return 1.0 / 255.0
        top, low = float(inputs.max()), float(inputs.min())
    else:
        floats = [np.asarray(a) for a in inputs if np.asarray(a).dtype.kind == "f"]
        if not floats:
            return 1.0 / 255.0
        top = max(float(a.max()) for a in floats)
        low = min(float(a.min()) for a in floats)
    if low < 0 or top > 255:
        raise DataError(
            f"{split.source}: float image values must lie in [0, 1] or [0, 255], "
            f"got [{low:g}, {top:g}]"
        )
    return 1.0 if top <= 1.0 else 1.0 / 255.0


def _check_compatible(train: RawSplit, other: RawSplit, role: str) -> None:
    if other.modality != train.modality:
        raise DataError(
            f"{other.source}: {role} data is {other.modality} but training data is {train.modality}"
        )
    if train.modality == "tabular":
        d_train, d_other = np.asarray(train.inputs).shape[1], np.asarray(other.inputs).shape[1]
        if d_train != d_other:
            raise DataError(
                f"{other.source}: {role} rows have {d_other} features, training rows {d_train}"
            )


class _Maker:
    """Turns raw splits into datasets with one label map and one preprocessing."""

    def __init__(
        self, cfg: DataConfig, train: RawSplit, image_size: int, extra: Mapping[str, Any]
    ) -> None:
        self.cfg = cfg
        self.train = train
        self.label_map = LabelMap.from_training(train) if cfg.task == "classification" else None
        self.transform = None
        self.augment_transform = None
        self.preprocessing: dict[str, Any] = {"modality": train.modality, **extra}
        if cfg.augment.enabled and train.modality != "image":
            raise ConfigError(
                f"data.augment: image augmentation does nothing to {train.modality} data "
                f"({train.source}); got {cfg.augment.model_dump()}"
            )
        if train.modality == "image":
            scale = _value_scale(train)
            self.transform = ImageTransform(image_size, cfg.image, None, scale)
            self.augment_transform = ImageTransform(image_size, cfg.image, cfg.augment, scale)
            self.preprocessing.update(self.transform.describe())

    def targets(self, raw: RawSplit, role: str) -> np.ndarray:
        if self.label_map is None:
            return regression_targets(raw)
        return self.label_map.encode(raw, role)

    def dataset(self, raw: RawSplit, role: str) -> _Base:
        targets = self.targets(raw, role)
        if raw.modality == "text":
            return TextDataset(raw.inputs, targets, self.preprocessing)
        if raw.modality == "tabular":
            return TabularDataset(raw.inputs, targets, self.preprocessing)
        training = role == "training"
        transform = self.augment_transform if training else self.transform
        assert transform is not None
        desc = transform.describe()
        return ImageDataset(raw.inputs, targets, {**self.preprocessing, **desc}, transform)


def _read(cfg: DataConfig, path: str | None, role: str, hook: AccessHook | None) -> RawSplit:
    if hook is not None:
        hook(role)
    if cfg.builtin is not None:
        return load_builtin(cfg.builtin)
    assert path is not None
    return read_file(path, cfg)


def build_data(
    cfg: DataConfig,
    *,
    image_size: int = 64,
    preprocessing: Mapping[str, Any] | None = None,
    access_hook: AccessHook | None = None,
    merge_validation: bool = False,
) -> DataBundle:
    """Read and validate train (and validation) data; the test split stays lazy.

    ``preprocessing`` describes model-side input processing (tokenizer, max length); it is part
    of every dataset's fingerprint. ``merge_validation`` adds the validation examples to the
    training set (for a last training run on train + validation); the validation set is still
    returned, for a loop that needs one, but no longer tells anything about generalisation.
    """
    split = cfg.split
    raw = _read(cfg, cfg.train, "train", access_hook)
    classify = cfg.task == "classification"
    stratify = split.stratify and classify
    test_raw: RawSplit | None = None
    if cfg.test is None and split.test > 0:
        keep, carved = split_indices(raw.labels, split.test, seed=split.seed, stratify=stratify)
        raw, test_raw = raw.subset(keep), raw.subset(carved)
    val_raw: RawSplit | None = None
    if cfg.kfold is None:
        if cfg.validation is not None:
            val_raw = _read(cfg, cfg.validation, "validation", access_hook)
        elif split.validation > 0:
            keep, carved = split_indices(
                raw.labels, split.validation, seed=split.seed + 1, stratify=stratify
            )
            raw, val_raw = raw.subset(keep), raw.subset(carved)
        else:
            raise ConfigError(
                "data.split.validation must be > 0 when no data.validation file is given, got 0"
            )
    if cfg.max_train_samples is not None and cfg.max_train_samples < len(raw):
        idx = subsample_indices(
            raw.labels, cfg.max_train_samples, seed=split.seed + 2, stratify=stratify
        )
        raw = raw.subset(idx)
    maker = _Maker(cfg, raw, image_size, preprocessing or {})
    train_ds = maker.dataset(raw, "training")
    folds: list[tuple[_Base, _Base]] | None = None
    if cfg.kfold is not None:
        if len(raw) < cfg.kfold:
            raise DataError(f"{raw.source}: data.kfold={cfg.kfold} needs at least that many rows")
        folds = [
            (maker.dataset(raw.subset(tr), "training"), maker.dataset(raw.subset(va), "validation"))
            for tr, va in kfold_indices(
                raw.labels, cfg.kfold, seed=split.seed + 3, stratify=stratify
            )
        ]
        val_ds = folds[0][1]
        train_ds = folds[0][0]
    else:
        assert val_raw is not None
        _check_compatible(raw, val_raw, "validation")
        if merge_validation:
            raw = raw.concat(val_raw)
            maker = _Maker(cfg, raw, image_size, preprocessing or {})
            train_ds = maker.dataset(raw, "training")
        val_ds = maker.dataset(val_raw, "validation")
    if len(val_ds) == 0:
        raise DataError(f"{raw.source}: the validation split is empty; raise data.split.validation")

    has_test = cfg.test is not None or test_raw is not None

    def make_test() -> _Base:
        tr = test_raw
        if access_hook is not None and cfg.test is None:
            access_hook("test")
        if tr is None:
            tr = _read(cfg, cfg.test, "test", access_hook)
        _check_compatible(raw, tr, "test")
        return maker.dataset(tr, "test")

    label_map = maker.label_map
    counts = label_map.counts(maker.targets(raw, "training")) if label_map is not None else None
    log.info(
        "data: %d training, %d validation examples%s",
        len(train_ds),
        len(val_ds),
        ", test split held back" if has_test else "",
    )
    return DataBundle(
        task=cfg.task,
        modality=raw.modality,
        label_map=label_map,
        num_outputs=len(label_map) if label_map is not None else 1,
        train=train_ds,
        validation=val_ds,
        preprocessing=dict(maker.preprocessing),
        class_counts=counts,
        folds=folds,
        has_test=has_test,
        _test_factory=make_test if has_test else None,
    )
