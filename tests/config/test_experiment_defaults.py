"""Defaults an experiment config gets when a key is left out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tunesmith.config.experiment import load_experiment
from tunesmith.errors import ConfigError

SKLEARN = {
    "space": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}},
    "sklearn": {"estimator": "sklearn.svm:SVC", "dataset": "iris", "cv": 3},
}


def test_study_name_defaults_to_the_config_files_stem(tmp_path: Path) -> None:
    path = tmp_path / "svc-search.yaml"
    path.write_text(yaml.safe_dump({**SKLEARN, "study": {"n_trials": 2}}))
    assert load_experiment(path).study.name == "svc-search"
    path.write_text(yaml.safe_dump(SKLEARN))  # no study section at all
    config = load_experiment(path)
    assert config.study.name == "svc-search" and config.study.n_trials == 20
    assert config.study.storage_url() == "sqlite:///runs/svc-search/study.db"


def test_a_given_study_name_wins_over_the_stem(tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump({**SKLEARN, "study": {"name": "mine"}}))
    assert load_experiment(path).study.name == "mine"
    assert load_experiment(path, ["study.name=other"]).study.name == "other"


def test_a_stem_that_is_no_safe_name_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "my search.yaml"
    path.write_text(yaml.safe_dump(SKLEARN))
    with pytest.raises(ConfigError, match=r"study\.name.*my search"):
        load_experiment(path)
