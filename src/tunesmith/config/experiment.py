"""The experiment config: which study, which search space, which objective.

``ExperimentConfig`` holds exactly one objective section. The known sections are listed in
:data:`OBJECTIVE_SECTIONS`; adding an objective kind (the fine-tuning job, later) is one more
optional field here, one more name in that tuple and one builder registered in
``tunesmith.experiment.objectives`` — the runtime itself takes a ready objective and never looks at
the section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunesmith.config.base import Frozen
from tunesmith.config.data import DataConfig
from tunesmith.config.model import ModelConfig
from tunesmith.config.search import PrunerConfig, SamplerConfig, SpaceConfig
from tunesmith.config.train import TrainConfig, with_task_defaults

SAFE_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}$")
OBJECTIVE_SECTIONS: tuple[str, ...] = ("objective", "sklearn", "finetune")
# The fine-tuning objective has no section of its own: the job's own sections (model, data,
# train, seed) sit at the top level, so trial parameters are dotted paths like train.optimizer.lr.
FINETUNE_MARKER = "data"

MEMORY_ALIASES = ("memory", ":memory:", "inmemory")
Direction = Literal["maximize", "minimize"]


def check_safe_name(value: str) -> str:
    """Names become folder names: letters, digits, ``-``, ``_``, ``.``; no leading dot; ≤ 100."""
    if not SAFE_NAME.match(value) or value.startswith("."):
        raise ValueError(
            "must be 1-100 letters, digits, '-', '_' or '.', not starting with '.' "
            "(it becomes a folder name)"
        )
    return value


def check_reference(value: str) -> str:
    """``package.module:attribute`` with identifiers on both sides."""
    module, sep, attr = value.partition(":")
    ident = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    if (
        not sep
        or not module
        or not all(ident.match(p) for p in module.split("."))
        or not all(ident.match(p) for p in attr.split("."))
    ):
        raise ValueError("must look like 'package.module:name'")
    return value


def normalize_storage_url(url: str) -> str:
    """Check a storage URL's form and normalise it; ``ValueError`` says what is wrong.

    Accepted: ``sqlite:///file.db``, ``postgresql://user@host:port/db`` (``postgres://`` too),
    ``mysql://...`` and ``memory`` (the study lives in this process only).
    """
    text = url.strip()
    if text.lower() in MEMORY_ALIASES:
        return "memory"
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise ValueError(
            "must be a database URL (sqlite:///path/study.db, postgresql://user@host:port/db) "
            "or 'memory'"
        )
    if scheme == "postgres":  # SQLAlchemy only knows the long spelling
        text = "postgresql" + text[len("postgres") :]
    if scheme == "sqlite" and not text.startswith("sqlite:///"):
        raise ValueError("a SQLite URL has three slashes: sqlite:///file.db")
    return text


class StudyConfig(Frozen):
    """Where the study lives, what it optimises and when it stops."""

    name: str
    storage: str | None = None
    direction: Direction = "maximize"
    directions: list[Direction] | None = None
    metric: str | list[str] | None = None
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    n_trials: int | None = Field(default=20, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    target: float | None = None
    patience: int | None = Field(default=None, ge=1)
    workers: int = Field(default=1, ge=1, le=1024)
    runner: Literal["local", "inprocess", "ray"] = "local"
    max_consecutive_failures: int = Field(default=10, ge=1)
    seed: int | None = Field(default=None, ge=0)
    lease_seconds: float = Field(default=300.0, ge=5)
    log_to: list[Literal["mlflow", "tensorboard"]] = Field(default_factory=list)
    mlflow_uri: str | None = None
    # Limits that hold per trial and per worker (see tunesmith.runners.base.RunnerLimits).
    trial_timeout: float | None = Field(default=None, gt=0)
    worker_memory_mb: float | None = Field(default=None, gt=0)
    max_trials_per_worker: int | None = Field(default=None, ge=1)
    gpus_per_trial: float = Field(default=0.0, ge=0, le=64)
    cpus_per_trial: float | None = Field(default=None, gt=0, le=1024)
    ray_address: str | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        return check_safe_name(v)

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str | None) -> str | None:
        if v is None:
            return None
        return normalize_storage_url(v)

    @field_validator("target")
    @classmethod
    def _finite_target(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        dirs = self.all_directions
        if self.directions is not None and len(self.directions) == 0:
            raise ValueError("directions must list at least one direction")
        if isinstance(self.metric, list) and len(self.metric) != len(dirs):
            raise ValueError(
                f"metric lists {len(self.metric)} names but there are {len(dirs)} directions"
            )
        if len(dirs) > 1 and isinstance(self.metric, str):
            raise ValueError("a multi-objective study needs metric as a list, one per direction")
        if len(dirs) > 1 and (self.target is not None or self.patience is not None):
            raise ValueError("target and patience apply to single-objective studies only")
        if self.runner == "inprocess" and self.workers > 1:
            raise ValueError(
                "workers: runner 'inprocess' runs one trial at a time in this process, so "
                f"workers would do nothing; got {self.workers} (use runner: local for parallel "
                "workers)"
            )
        if self.n_trials is None and self.timeout is None:
            raise ValueError("give n_trials, timeout or both (n_trials: null needs a timeout)")
        if len(set(self.log_to)) != len(self.log_to):
            raise ValueError(f"log_to lists a tracker twice: {self.log_to}")
        if self.mlflow_uri is not None and "mlflow" not in self.log_to:
            raise ValueError(
                f"mlflow_uri is {self.mlflow_uri!r} but log_to has no mlflow, so nothing would "
                "log to it; add mlflow to study.log_to or drop study.mlflow_uri"
            )
        self._check_resources()
        return self

    def _check_resources(self) -> None:
        g = self.gpus_per_trial
        if g > 1 and g != int(g):
            raise ValueError(f"gpus_per_trial above 1 must be a whole number of GPUs, got {g}")
        if 0 < g < 1 and abs(1 / g - round(1 / g)) > 1e-9:
            raise ValueError(
                f"gpus_per_trial below 1 must divide one GPU evenly (0.5, 0.25, ...), got {g}"
            )
        if self.ray_address is not None and self.runner != "ray":
            raise ValueError(
                f"ray_address needs runner: ray (it implies it), got runner: {self.runner}"
            )
        if self.runner == "inprocess":
            for key in ("trial_timeout", "worker_memory_mb", "max_trials_per_worker"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key} needs worker processes (runner: local or ray), got runner: "
                        "inprocess, where it would do nothing"
                    )
            if g > 0:
                raise ValueError(
                    f"gpus_per_trial needs runner: local or ray, got {g} with runner: inprocess"
                )
        if self.runner == "ray" and self.worker_memory_mb is not None:
            raise ValueError(
                "worker_memory_mb applies to runner: local; under Ray set the node's memory "
                f"(ray start --memory), got worker_memory_mb: {self.worker_memory_mb}"
            )
        if self.runner != "ray" and self.cpus_per_trial is not None:
            raise ValueError(
                f"cpus_per_trial is a Ray resource (runner: ray), got runner: {self.runner}"
            )

    @model_validator(mode="before")
    @classmethod
    def _address_implies_ray(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("ray_address") and "runner" not in value:
            return {**value, "runner": "ray"}
        return value

    @property
    def all_directions(self) -> list[str]:
        return list(self.directions) if self.directions else [self.direction]

    @property
    def metric_names(self) -> list[str] | None:
        if self.metric is None:
            return None
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    def storage_url(self) -> str:
        """The storage URL, defaulting to ``sqlite:///runs/<name>/study.db``."""
        return self.storage or default_storage_url(self.name)


def default_storage_url(name: str) -> str:
    """Where a study named ``name`` lives when its config gives no ``study.storage``."""
    return f"sqlite:///runs/{name}/study.db"


class SklearnObjectiveConfig(Frozen):
    """Cross-validate a scikit-learn estimator on a dataset scikit-learn ships."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    dataset: Literal["iris", "wine", "breast_cancer", "digits", "diabetes"]
    cv: int = Field(default=5, ge=2, le=100)
    scoring: str | None = None

    @field_validator("estimator")
    @classmethod
    def _reference(cls, v: str) -> str:
        return check_reference(v)

    @field_validator("scoring")
    @classmethod
    def _scorer(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from sklearn.metrics import get_scorer_names

        names = sorted(get_scorer_names())
        if v not in names:
            import difflib

            close = difflib.get_close_matches(v, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(names)}"
            raise ValueError(f"must be a scikit-learn scorer name; {hint}")
        return v


class WarmStartConfig(Frozen):
    """Trials to start from: the model family's published recipes and/or an earlier study."""

    recipes: bool = False
    max_recipes: int | None = Field(default=3, ge=1)
    study: str | None = None
    storage: str | None = None

    @field_validator("study")
    @classmethod
    def _study_name(cls, v: str | None) -> str | None:
        return None if v is None else check_safe_name(v)

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str | None) -> str | None:
        if v is None:
            return None
        url = normalize_storage_url(v)
        if url == "memory":
            raise ValueError("an in-memory study cannot be read back; give a database URL")
        return url

    @model_validator(mode="after")
    def _does_something(self) -> WarmStartConfig:
        if not self.recipes and self.study is None:
            raise ValueError("warm_start adds nothing: give recipes: true and/or study: NAME")
        if self.storage is not None and self.study is None:
            raise ValueError(f"warm_start.storage ({self.storage}) is read only with study: NAME")
        return self

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value == "recipes":
            return {"recipes": True}
        return value


class RecheckConfig(Frozen):
    """Seed re-check: the top ``top_k`` configurations rerun with ``seeds`` more seeds."""

    top_k: int = Field(default=3, ge=1, le=50)
    seeds: int = Field(default=2, ge=0, le=20)


class FinalConfig(Frozen):
    """The final model: ``train_on: train`` evaluates the winner as the search trained it;
    ``train+validation`` first retrains it on both splits for its best epoch count."""

    train_on: Literal["train", "train+validation"] = "train"
    merge_lora: bool = False
    """Export a LoRA winner with its adapters folded into the base weights (a plain model)."""
    ensemble: int | None = Field(default=None, ge=2)
    """Also average the predicted probabilities of the top ``ensemble`` re-checked models (their
    search weights), score that ensemble on the test split next to the single winner, and export
    it to ``runs/<name>/best/ensemble``."""

    @model_validator(mode="after")
    def _ensemble(self) -> FinalConfig:
        if self.ensemble is not None and self.train_on != "train":
            raise ValueError(
                "final.ensemble averages the models the search trained; rule: it needs "
                f"final.train_on 'train', got {self.train_on!r}"
            )
        return self


class ExperimentConfig(Frozen):
    """A whole experiment: ``study``, ``space`` and exactly one objective section.

    The fine-tuning objective is given by the job sections ``model``, ``data``, ``train`` and
    ``seed`` (``data`` is required); ``space: default`` then picks the model family's space.
    """

    study: StudyConfig
    space: SpaceConfig | Literal["default"]
    objective: str | None = None
    sklearn: SklearnObjectiveConfig | None = None
    model: ModelConfig | None = None
    data: DataConfig | None = None
    train: TrainConfig | None = None
    seed: int = 0
    warm_start: WarmStartConfig | None = None
    recheck: RecheckConfig = Field(default_factory=RecheckConfig)
    final: FinalConfig = Field(default_factory=FinalConfig)

    @field_validator("objective")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        return None if v is None else check_reference(v)

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, value: Any) -> Any:
        return with_task_defaults(value)  # regression: mse loss unless one is named

    @field_validator("space")
    @classmethod
    def _space_not_empty(cls, v: SpaceConfig | str) -> SpaceConfig | str:
        if isinstance(v, str):
            return v
        if not v.root:
            raise ValueError("must define at least one parameter")
        return v

    def _given(self, section: str) -> bool:
        name = FINETUNE_MARKER if section == "finetune" else section
        return getattr(self, name, None) is not None

    @model_validator(mode="after")
    def _one_objective(self) -> ExperimentConfig:
        given = [s for s in OBJECTIVE_SECTIONS if self._given(s)]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one objective: objective (a Python function), sklearn, or a "
                f"fine-tuning job (model, data, train); got {', '.join(given) or 'none'}"
            )
        if given != ["finetune"]:
            stray = [k for k in ("model", "train") if getattr(self, k) is not None]
            if self.warm_start is not None and self.warm_start.recipes:
                stray.append("warm_start.recipes (recipes are per model family)")
            if self.final != FinalConfig():
                stray.append("final")
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} belong to a fine-tuning job, which needs data"
                )
            if self.space == "default":
                raise ValueError("space: default needs a fine-tuning job (model, data, train)")
        elif self.final.merge_lora and self.model is not None and self.model.kind != "hf_text":
            raise ValueError(
                f"final.merge_lora: LoRA applies to model.kind hf_text only, so it would do "
                f"nothing; got model.kind {self.model.kind!r}"
            )
        elif self.final.ensemble is not None and self.final.ensemble > self.recheck.top_k:
            raise ValueError(
                f"final.ensemble {self.final.ensemble}: rule: at most recheck.top_k "
                f"({self.recheck.top_k}) models are re-checked to average"
            )
        elif self.final.train_on == "train+validation" and self.data and self.data.kfold:
            raise ValueError(
                "final.train_on: train+validation needs one validation split, but data.kfold "
                f"is {self.data.kfold}"
            )
        return self

    @property
    def objective_kind(self) -> str:
        """The name of the objective that is set: objective, sklearn or finetune."""
        return next(s for s in OBJECTIVE_SECTIONS if self._given(s))


def load_experiment(
    path: str | Path,
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """Read, override and validate an experiment YAML file.

    ``overrides`` are ``--set key=value`` strings (values read as YAML); ``values`` maps dotted
    keys to ready Python values (command-line flags such as ``--n-trials``), applied last. A
    config without ``study.name`` gets the file's stem (``exp.yaml`` → ``exp``).
    """
    from tunesmith.config.loader import apply_overrides, load_yaml, set_dotted, validate
    from tunesmith.errors import ConfigError

    loaded = load_yaml(path)
    if not isinstance(loaded.data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with study, space, objective")
    data = apply_overrides(loaded.data, overrides)
    for key, value in (values or {}).items():
        data = set_dotted(data, key, value)
    study = data.get("study")
    if study is None or (isinstance(study, Mapping) and "name" not in study):
        data = set_dotted(data, "study.name", Path(path).stem)  # like Optuna naming a study
    return validate(ExperimentConfig, data, str(path), loaded)  # type: ignore[no-any-return]
