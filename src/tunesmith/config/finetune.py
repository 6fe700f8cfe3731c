"""One fine-tuning job: model, data, training, seed and where to save the result.

YAML shape (see ``examples/finetune_*.yaml``)::

    model: {kind: hf_text, name: "packaged:minilm", pooling: auto, dropout: 0.1, max_length: 128}
    data:
      builtin: rotten_tomatoes        # or train: reviews.csv (+ validation:, test:)
      max_train_samples: 2000
      split: {validation: 0.1, test: 0.1, seed: 0}
    train:                            # tunesmith.config.train.TrainConfig
      epochs: 4
      batch_size: 64
      optimizer: {name: adam, lr: 0.01}
      freezing: {strategy: head}
    seed: 0
    output: runs/minilm-rt           # optional: export the model here

Relative data paths (and ``model.weights``, and a ``model.name`` that is an existing relative
folder) are resolved against the config file's folder when loaded from a file, so the validated
config holds absolute paths and re-runs from anywhere; ``output`` stays relative to the current
folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from tunesmith.config.base import Frozen
from tunesmith.config.data import DataConfig
from tunesmith.config.distill import STUDY_PREFIX, DistillConfig
from tunesmith.config.loader import apply_overrides, load_yaml, validate
from tunesmith.config.model import ModelConfig
from tunesmith.config.train import TrainConfig, with_task_defaults
from tunesmith.errors import ConfigError


class FinetuneConfig(Frozen):
    """A complete, re-runnable fine-tuning job."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    seed: int = 0
    output: str | None = None
    distill: DistillConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, value: Any) -> Any:
        return with_task_defaults(value)

    @model_validator(mode="after")
    def _train_fits_task(self) -> FinetuneConfig:
        try:
            self.train.check_task(self.data.task)
        except ConfigError as exc:
            raise ValueError(f"{exc} (data.task is {self.data.task!r})") from None
        if self.data.augment.enabled and self.model.kind == "hf_text":
            raise ValueError(
                "data.augment: image augmentation does nothing to the text an hf_text model "
                f"reads; got {self.data.augment.model_dump()}"
            )
        if self.distill is not None:
            self._check_distill()
        return self

    def _check_distill(self) -> None:
        if self.data.task != "classification":
            raise ValueError(
                "distill: distillation matches the teacher's class probabilities, so it needs "
                f"data.task classification; got {self.data.task!r}"
            )
        if self.data.augment.enabled:
            raise ValueError(
                "distill: the teacher's outputs are computed once on the training set, so random "
                "augmentation would pair them with inputs the teacher never saw; rule: no "
                f"data.augment with distill; got {self.data.augment.model_dump()}"
            )


def _absolute(value: Any, base: Path, must_exist: bool = False) -> Any:
    if not isinstance(value, str) or not value or value.startswith("packaged:"):
        return value
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    candidate = base / p
    if must_exist and not candidate.exists():
        return value
    return str(candidate)


def resolve_paths(data: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Make relative file paths in a raw config mapping absolute against ``base``."""
    out = dict(data)
    section = out.get("data")
    if isinstance(section, Mapping):
        section = dict(section)
        for key in ("train", "validation", "test"):
            if section.get(key) is not None:
                section[key] = _absolute(section[key], base)
        out["data"] = section
    model = out.get("model")
    if isinstance(model, Mapping):
        model = dict(model)
        if model.get("weights") is not None:
            model["weights"] = _absolute(model["weights"], base)
        if model.get("name") is not None:
            model["name"] = _absolute(model["name"], base, must_exist=True)
        out["model"] = model
    distill = out.get("distill")
    if isinstance(distill, Mapping) and isinstance(distill.get("teacher"), str):
        distill = dict(distill)
        teacher = distill["teacher"]
        # study:NAME names runs/NAME/best/model where studies run (the current folder)
        distill["teacher"] = (
            str(DistillConfig(teacher=teacher).teacher_path(Path.cwd()))
            if teacher.startswith(STUDY_PREFIX)
            else _absolute(teacher, base)
        )
        out["distill"] = distill
    return out


def load_finetune_config(
    path: str | Path, overrides: Iterable[str] = (), *, resolve_relative: bool = True
) -> FinetuneConfig:
    """Load YAML, apply ``--set key=value`` overrides, resolve relative paths, validate."""
    loaded = load_yaml(path)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    data = apply_overrides(data, overrides)
    if resolve_relative:
        data = resolve_paths(data, Path(path).resolve().parent)
    cfg: FinetuneConfig = validate(FinetuneConfig, data, str(path), loaded)
    return cfg
