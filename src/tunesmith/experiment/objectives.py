"""The objective kinds whose run is one study: a Python function and a scikit-learn estimator.

Each kind validates its section and builds the objective (``callable(params[, reporter])``)
before any storage is opened. The fine-tuning kind lives in :mod:`tunesmith.experiment.finetune`;
:mod:`tunesmith.experiment.kinds` registers them all.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.config.experiment import ExperimentConfig, SklearnObjectiveConfig
from tunesmith.errors import ConfigError
from tunesmith.experiment.events import OnEvent
from tunesmith.experiment.runtime import Prepared, run_study
from tunesmith.utils.registry import Registry


def resolve_reference(ref: str, field_name: str) -> Any:
    """Import ``package.module:name``; failures are :class:`ConfigError` naming the field.

    The current directory is searched first, as ``python -m`` does, so a config can name a module
    that sits beside it when run from its folder.
    """
    module_name, _, attr = ref.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"{field_name}: cannot import module {module_name!r} of {ref!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"{field_name}: module {module_name!r} has no attribute {attr!r} (from {ref!r})"
            ) from None
    return obj


def python_objective(config: ExperimentConfig) -> Callable[..., Any]:
    """The function named by ``objective: package.module:function``."""
    assert config.objective is not None
    fn = resolve_reference(config.objective, "objective")
    if not callable(fn):
        raise ConfigError(f"objective: {config.objective!r} is not callable, got {fn!r}")
    return fn  # type: ignore[no-any-return]


DATASET_LOADERS: Registry[str] = Registry(
    "scikit-learn dataset",
    {
        "iris": "load_iris",
        "wine": "load_wine",
        "breast_cancer": "load_breast_cancer",
        "digits": "load_digits",
        "diabetes": "load_diabetes",
    },
)


@dataclass
class SklearnCrossValidation:
    """Objective: mean cross-validated score of ``estimator(**fixed, **params)`` on a dataset.

    Returns ``{"score": mean, "score_std": std}``; the coordinator optimises ``score`` (its
    ``default_metric``). The data is loaded once per process and kept.
    """

    default_metric = "score"

    estimator: str
    fixed: dict[str, Any]
    dataset: str
    cv: int
    scoring: str | None
    _data: Any = field(default=None, repr=False, compare=False)

    def __call__(self, params: dict[str, Any]) -> dict[str, float]:
        from sklearn import datasets
        from sklearn.model_selection import cross_val_score

        if self._data is None:
            self._data = getattr(datasets, DATASET_LOADERS.lookup(self.dataset, "sklearn.dataset"))(
                return_X_y=True
            )
        X, y = self._data
        cls = resolve_reference(self.estimator, "sklearn.estimator")
        model = cls(**self.fixed).set_params(**params)
        scores = cross_val_score(model, X, y, cv=self.cv, scoring=self.scoring)
        return {"score": float(scores.mean()), "score_std": float(scores.std())}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None}


def sklearn_objective(config: ExperimentConfig) -> Callable[..., Any]:
    """Cross-validation of ``sklearn.estimator``; every space name must be an estimator param."""
    section: SklearnObjectiveConfig | None = config.sklearn
    assert section is not None
    cls = resolve_reference(section.estimator, "sklearn.estimator")
    try:
        known = set(cls(**section.params).get_params(deep=True))
    except Exception as exc:
        raise ConfigError(
            f"sklearn.params: {section.estimator} refused {section.params}: {exc}"
        ) from None
    assert not isinstance(config.space, str)  # 'default' is refused for sklearn objectives
    for name in config.space.root:
        if name not in known:
            raise ConfigError(
                f"space.{name}: not a parameter of {section.estimator}; "
                f"known: {', '.join(sorted(known))}"
            )
    if config.study.all_directions != ["maximize"]:
        raise ConfigError(
            "study.direction: scikit-learn scores are greater-is-better, so a sklearn objective "
            f"maximizes; got {config.study.all_directions}"
        )
    if config.study.metric not in (None, "score"):
        raise ConfigError(
            f"study.metric: a sklearn objective reports 'score', got {config.study.metric!r}"
        )
    return SklearnCrossValidation(
        section.estimator, dict(section.params), section.dataset, section.cv, section.scoring
    )


class StudyKind:
    """An objective kind whose experiment is one study: build the objective, run the search."""

    leaderboard = False  # the summary shows the best trial only

    def __init__(self, name: str, build: Callable[[ExperimentConfig], Callable[..., Any]]):
        self.name = name
        self._build = build

    def prepare(self, config: ExperimentConfig) -> Prepared:
        """Validate the space and the objective section; write nothing."""
        from tunesmith.search.defaults import resolve_space
        from tunesmith.search.space import SearchSpace

        space = SearchSpace.from_config(resolve_space(config.space))
        objective = self._build(config)
        if config.warm_start is not None and config.warm_start.study is not None:
            from tunesmith.experiment.warm_start import find_source

            find_source(config.warm_start, config.study)  # missing: an error now, not later
        study = config.study
        default_metric = getattr(objective, "default_metric", None)
        if study.metric is None and default_metric is not None:
            study = study.model_copy(update={"metric": default_metric})
        return Prepared(self.name, study, space, objective, config)

    def run(self, prepared: Prepared, on_event: OnEvent | None = None) -> Any:
        from tunesmith.experiment.warm_start import open_warm_started

        ws = getattr(prepared.config, "warm_start", None)  # tunesmith.tune has no config
        storage = open_warm_started(ws, prepared.study, prepared.space)
        return run_study(
            prepared.study, prepared.space, prepared.objective, on_event=on_event, storage=storage
        )


PYTHON = StudyKind("objective", python_objective)
SKLEARN = StudyKind("sklearn", sklearn_objective)
