"""``TuneSearchCV``: a scikit-learn search estimator driven by tunesmith's coordinator.

It has GridSearchCV's surface (``fit``, ``predict``, ``best_params_``, ``cv_results_`` ...) and
works inside a ``Pipeline``, with ``clone`` and with ``cross_val_score``. By default the study lives
in memory and, with ``n_jobs=1``, trials run in this process; ``n_jobs > 1`` uses that many worker
processes.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.utils.metaestimators import available_if

_BEST = "best_estimator_"


def _refitted_has(attr: str) -> Any:
    def check(self: TuneSearchCV) -> bool:
        if not self.refit:
            raise AttributeError(f"{attr} needs refit=True")
        if hasattr(self, _BEST):
            return hasattr(self.best_estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class _CrossValidate:
    """The objective: cross-validated scores of ``estimator`` with a trial's parameters."""

    default_metric = "score"

    def __init__(
        self,
        estimator: Any,
        X: Any,
        y: Any,
        splits: list[Any],
        scorer: Any,
        fit_params: dict[str, Any],
    ) -> None:
        self.estimator, self.X, self.y = estimator, X, y
        self.splits, self.scorer, self.fit_params = splits, scorer, fit_params

    def __call__(self, params: dict[str, Any]) -> dict[str, float]:
        from sklearn.model_selection import cross_validate

        model = clone(self.estimator).set_params(**params)
        result = cross_validate(
            model,
            self.X,
            self.y,
            cv=self.splits,
            scoring=self.scorer,
            params=self.fit_params or None,
            error_score="raise",
        )
        scores = np.asarray(result["test_score"], dtype=float)
        out = {"score": float(scores.mean()), "std_test_score": float(scores.std())}
        out["mean_fit_time"] = float(np.mean(result["fit_time"]))
        for i, s in enumerate(scores):
            out[f"split{i}_test_score"] = float(s)
        return out


class TuneSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Search ``space`` (name → ParamSpec dict) for ``estimator``'s best parameters by CV."""

    def __init__(
        self,
        estimator: Any,
        space: dict[str, Any],
        sampler: str | dict[str, Any] = "tpe",
        n_trials: int = 20,
        cv: Any = 5,
        scoring: Any = None,
        refit: bool = True,
        random_state: int | None = None,
        n_jobs: int = 1,
        storage: str | None = None,
        study_name: str | None = None,
    ) -> None:
        self.estimator = estimator
        self.space = space
        self.sampler = sampler
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.storage = storage
        self.study_name = study_name

    def __sklearn_tags__(self) -> Any:
        """Classifier/regressor tags of the wrapped estimator (so CV stratifies as it should)."""
        from copy import deepcopy

        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = deepcopy(sub.classifier_tags)
        tags.regressor_tags = deepcopy(sub.regressor_tags)
        tags.input_tags.pairwise = sub.input_tags.pairwise
        tags.input_tags.sparse = sub.input_tags.sparse
        return tags

    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any) -> TuneSearchCV:
        from sklearn.metrics import check_scoring
        from sklearn.model_selection import check_cv

        from tunesmith.experiment import tune

        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, groups))
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        workers = (os.cpu_count() or 1) if self.n_jobs in (None, -1) else int(self.n_jobs)
        objective = _CrossValidate(self.estimator, X, y, splits, scorer, fit_params)
        result = tune(
            objective,
            self.space,
            sampler=self.sampler,
            n_trials=self.n_trials,
            storage=self.storage,
            study_name=self.study_name,
            direction="maximize",
            metric="score",
            workers=max(1, workers),
            runner="inprocess" if workers <= 1 else "local",
            seed=self.random_state,
        )
        self.study_ = result.study
        self.n_splits_ = len(splits)
        self.scorer_ = scorer
        self.cv_results_ = _cv_results(result.study, self.n_splits_)
        if result.best_params is None:
            from tunesmith.errors import StudyFailedError

            raise StudyFailedError("TuneSearchCV: no trial completed; see study_.trials")
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_params_ = dict(result.best_params)
        self.best_score_ = float(result.best_value)  # type: ignore[arg-type]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
            if hasattr(self.best_estimator_, "classes_"):
                self.classes_ = self.best_estimator_.classes_
            if hasattr(self.best_estimator_, "n_features_in_"):
                self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    @available_if(_refitted_has("predict"))
    def predict(self, X: Any) -> Any:
        return self.best_estimator_.predict(X)

    @available_if(_refitted_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        return self.best_estimator_.predict_proba(X)

    @available_if(_refitted_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        return self.best_estimator_.decision_function(X)

    @available_if(_refitted_has("transform"))
    def transform(self, X: Any) -> Any:
        return self.best_estimator_.transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """The scorer of the search applied to the refitted best estimator."""
        if not self.refit:
            raise AttributeError("score needs refit=True")
        return float(self.scorer_(self.best_estimator_, X, y))


def _cv_results(study: Any, n_splits: int) -> dict[str, Any]:
    """GridSearchCV-style ``cv_results_`` over every finished trial (failed ones score NaN)."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    trials = [t for t in trials if t.state != TrialState.WAITING]
    names = sorted({n for t in trials for n in t.params})
    ok = [t.state == TrialState.COMPLETE for t in trials]

    def attr(t: Any, key: str, is_ok: bool) -> float:
        value = t.user_attrs.get(key) if is_ok else None
        return float(value) if value is not None else float("nan")

    results: dict[str, Any] = {"params": [dict(t.params) for t in trials]}
    for name in names:
        col = np.ma.masked_all(len(trials), dtype=object)
        for i, t in enumerate(trials):
            if name in t.params:
                col[i] = t.params[name]
        results[f"param_{name}"] = col
    for i in range(n_splits):
        results[f"split{i}_test_score"] = np.array(
            [attr(t, f"split{i}_test_score", k) for t, k in zip(trials, ok, strict=True)]
        )
    mean = np.array(
        [float(t.value) if k else float("nan") for t, k in zip(trials, ok, strict=True)]
    )
    results["mean_test_score"] = mean
    results["std_test_score"] = np.array(
        [attr(t, "std_test_score", k) for t, k in zip(trials, ok, strict=True)]
    )
    results["mean_fit_time"] = np.array(
        [attr(t, "mean_fit_time", k) for t, k in zip(trials, ok, strict=True)]
    )
    # Equal scores share the lowest rank, as in GridSearchCV; failed trials rank last.
    from scipy.stats import rankdata

    filled = np.where(np.isnan(mean), -np.inf, mean)
    results["rank_test_score"] = rankdata(-filled, method="min").astype(np.int32)
    return results
