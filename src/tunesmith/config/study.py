"""The study section of an experiment: name, storage, directions, sampler, pruner, budgets,
workers and the limits that hold per trial and per worker."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunesmith.config.base import Frozen
from tunesmith.config.search import PrunerConfig, SamplerConfig

SAFE_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}$")

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
