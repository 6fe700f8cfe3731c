"""The experiment config: which study, which search space, which objective.

``ExperimentConfig`` holds exactly one objective section. The known sections are listed in
:data:`OBJECTIVE_SECTIONS`; adding an objective kind (the fine-tuning job, later) is one more
optional field here, one more name in that tuple and one builder registered in
``tunesmith.experiment.objectives`` — the runtime itself takes a ready objective and never looks at
the section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunesmith.config.base import Frozen
from tunesmith.config.data import DataConfig
from tunesmith.config.distill import DistillConfig
from tunesmith.config.model import ModelConfig
from tunesmith.config.pareto import PickConfig, check_pick
from tunesmith.config.search import SpaceConfig
from tunesmith.config.study import (  # noqa: F401  (re-exported: the experiment's study section)
    MEMORY_ALIASES,
    SAFE_NAME,
    Direction,
    StudyConfig,
    check_reference,
    check_safe_name,
    default_storage_url,
    normalize_storage_url,
)
from tunesmith.config.train import TrainConfig, with_task_defaults

OBJECTIVE_SECTIONS: tuple[str, ...] = ("objective", "sklearn", "finetune")
# The fine-tuning objective has no section of its own: the job's own sections (model, data,
# train, seed) sit at the top level, so trial parameters are dotted paths like train.optimizer.lr.
FINETUNE_MARKER = "data"


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
    pick: PickConfig | None = None
    """With several objectives: the rule choosing the Pareto-front member that is re-checked and
    exported (:mod:`tunesmith.config.pareto`); default ``most_accurate``."""

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
    distill: DistillConfig | None = None
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
            stray = [k for k in ("model", "train", "distill") if getattr(self, k) is not None]
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
        multi = len(self.study.all_directions) > 1
        if given == ["finetune"] and (multi or self.final.pick is not None):
            self._check_pareto()
        return self

    def _check_pareto(self) -> None:
        """A multi-objective fine-tuning study re-checks and exports one picked front member."""
        check_pick(self.final.pick, self.study.metric_names, len(self.study.all_directions))
        if self.final.ensemble is not None:
            raise ValueError(
                f"final.ensemble: rule: a study with several objectives exports the one "
                f"front member final.pick chooses (averaging K models multiplies the latency "
                f"it trades); got ensemble {self.final.ensemble}"
            )
        if "top_k" in self.recheck.model_fields_set:
            raise ValueError(
                f"recheck.top_k: rule: a study with several objectives re-checks the one "
                f"front member final.pick chooses, so top_k would do nothing; got "
                f"{self.recheck.top_k}"
            )

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
