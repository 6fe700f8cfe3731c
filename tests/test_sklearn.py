"""TuneSearchCV: the GridSearchCV surface, Pipeline, clone and cross_val_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tunesmith.sklearn import TuneSearchCV

SPACE = {"clf__C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}


def _pipe():
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))])


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_pipeline_search_surface(iris):
    X, y = iris
    search = TuneSearchCV(_pipe(), SPACE, n_trials=6, cv=3, random_state=0)
    search.fit(X, y)
    res = search.cv_results_
    assert search.n_splits_ == 3
    assert len(res["params"]) == 6
    for key in (
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "split0_test_score",
        "split2_test_score",
        "param_clf__C",
    ):
        assert len(res[key]) == 6, key
    assert "split3_test_score" not in res
    best = res["rank_test_score"].argmin()
    assert res["rank_test_score"].min() == 1
    assert search.best_score_ == pytest.approx(res["mean_test_score"].max())
    assert search.best_params_ == res["params"][best]
    # mean is the mean of the split scores
    splits = np.vstack([res[f"split{i}_test_score"] for i in range(3)])
    np.testing.assert_allclose(splits.mean(axis=0), res["mean_test_score"])
    assert list(search.classes_) == [0, 1, 2]
    assert search.predict(X).shape == (150,)
    assert search.predict_proba(X).shape == (150, 3)
    assert search.decision_function(X).shape == (150, 3)
    assert 0.8 < search.score(X, y) <= 1.0
    assert search.best_estimator_.get_params()["clf__C"] == search.best_params_["clf__C"]


def test_clone_and_cross_val_score(iris):
    X, y = iris
    search = TuneSearchCV(_pipe(), SPACE, n_trials=3, cv=2, random_state=1, scoring="accuracy")
    copy = clone(search)
    assert copy.get_params()["n_trials"] == 3 and not hasattr(copy, "best_params_")
    scores = cross_val_score(search, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.7)


def test_search_inside_pipeline(iris):
    X, y = iris
    inner = TuneSearchCV(
        LogisticRegression(max_iter=300),
        {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
        n_trials=3,
        cv=2,
        random_state=0,
    )
    pipe = Pipeline([("scale", StandardScaler()), ("search", inner)]).fit(X, y)
    assert pipe.score(X, y) > 0.8
    assert "C" in pipe.named_steps["search"].best_params_


def test_no_refit_has_no_predict(iris):
    X, y = iris
    search = TuneSearchCV(_pipe(), SPACE, n_trials=2, cv=2, refit=False).fit(X, y)
    assert not hasattr(search, "predict")
    assert not hasattr(search, "best_estimator_")
    assert set(search.best_params_) == {"clf__C"}
