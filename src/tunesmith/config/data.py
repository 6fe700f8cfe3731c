"""Where the training data comes from, how it is split and how it is preprocessed.

``format`` says how to read ``train``/``validation``/``test`` (files or folders); ``auto`` infers it
from the extension (a directory is an image folder). ``builtin`` names a dataset shipped in an
installed package instead of files. A split not given as a file is carved out of the training data
(stratified, seeded): set ``split.test: 0`` to have no test split.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from tunesmith.config.base import Frozen, PositiveFloat

DataFormat = Literal["auto", "csv", "tsv", "jsonl", "parquet", "image_folder", "npz", "builtin"]
BuiltinDataset = Literal["rotten_tomatoes", "digits", "mnist"]

#: ``data.format`` values; the engine's reader registry holds all but ``auto`` and ``builtin``.
DATA_FORMATS: tuple[str, ...] = get_args(DataFormat)
#: ``data.builtin`` values, the keys of the engine's builtin-dataset registry.
BUILTIN_DATASETS: tuple[str, ...] = get_args(BuiltinDataset)

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}


def infer_format(path: str) -> str | None:
    """The reader for ``path`` by extension (``.csv.gz``-style suffixes too); None if unknown."""
    lower = path.lower()
    for comp in (".gz", ".bz2", ".xz", ".zip"):
        if lower.endswith(comp):
            lower = lower[: -len(comp)]
    for ext, fmt in _EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None


class SplitConfig(Frozen):
    """Fractions carved out of the training data when a split has no file of its own."""

    validation: float = Field(default=0.1, ge=0.0, lt=1.0)
    test: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 0
    stratify: bool = True

    @model_validator(mode="after")
    def _check_sum(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError(
                "data.split.validation + data.split.test must be < 0.9, "
                f"got {self.validation} + {self.test}"
            )
        return self


class AugmentConfig(Frozen):
    """Training-time image augmentation (never applied to validation or test)."""

    hflip: bool = False
    crop_padding: int = Field(default=0, ge=0, le=64)
    rotation: float = Field(default=0.0, ge=0.0, le=180.0)
    color_jitter: float = Field(default=0.0, ge=0.0, lt=1.0)

    @property
    def enabled(self) -> bool:
        return self.hflip or self.crop_padding > 0 or self.rotation > 0 or self.color_jitter > 0


class ImageConfig(Frozen):
    """Image preprocessing: scale to [-1, 1] (EfficientNet-Lite) or normalise by mean/std."""

    normalize: Literal["minus_one_one", "mean_std"] = "minus_one_one"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat] = (0.229, 0.224, 0.225)
    max_image_pixels: int | None = Field(
        default=None, ge=1, description="refuse larger images (None: Pillow's MAX_IMAGE_PIXELS)"
    )


class DataConfig(Frozen):
    """``data:`` section of a fine-tuning config."""

    format: DataFormat = "auto"
    builtin: BuiltinDataset | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    task: Literal["classification", "regression"] = "classification"
    text_column: str = "text"
    label_column: str = "label"
    x_key: str = "x"
    y_key: str = "y"
    encoding: str = "utf-8"
    split: SplitConfig = Field(default_factory=SplitConfig)
    max_train_samples: int | None = Field(default=None, ge=2)
    kfold: int | None = Field(default=None, ge=2, le=50)
    image: ImageConfig = Field(default_factory=ImageConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @model_validator(mode="after")
    def _check_source(self) -> DataConfig:
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"data.encoding is not a known text encoding, got {self.encoding!r}"
            ) from None
        if self.builtin is not None:
            if self.format not in ("auto", "builtin"):
                raise ValueError(f"data.builtin needs data.format 'builtin', got {self.format!r}")
            if self.train or self.validation or self.test:
                raise ValueError("data.builtin and data.train/validation/test are exclusive")
        else:
            if self.format == "builtin":
                raise ValueError(f"data.builtin must name one of {', '.join(BUILTIN_DATASETS)}")
            if not self.train:
                raise ValueError("data.train (a file or folder) or data.builtin is required")
            if self.format == "auto":
                for path in (self.train, self.validation, self.test):
                    if path and infer_format(path) is None and "." in path.rsplit("/", 1)[-1]:
                        raise ValueError(
                            f"cannot infer data.format from {path!r}; set data.format to one of "
                            f"{', '.join(DATA_FORMATS[1:-1])}"
                        )
        if self.kfold is not None and self.validation is not None:
            raise ValueError("data.kfold and data.validation are exclusive (folds validate)")
        if self.builtin == "rotten_tomatoes" and self.task == "regression":
            raise ValueError("data.builtin 'rotten_tomatoes' is a classification dataset")
        return self

    def format_of(self, path: str) -> str:
        """The reader used for ``path`` (``auto``: extension, else an image folder)."""
        if self.builtin is not None:
            return "builtin"
        if self.format != "auto":
            return self.format
        return infer_format(path) or "image_folder"
