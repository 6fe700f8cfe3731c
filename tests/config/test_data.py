"""DataConfig: sources, splits and preprocessing options are validated at the boundary."""

from __future__ import annotations

import pytest

from tunesmith.config.data import DataConfig, infer_format
from tunesmith.config.loader import validate
from tunesmith.errors import ConfigError


def test_defaults_and_format_inference():
    cfg = DataConfig(train="reviews.csv.gz", validation="dev.tsv")
    assert cfg.format_of(cfg.train) == "csv"
    assert cfg.format_of("dev.tsv") == "tsv"
    assert cfg.format_of("images/train") == "image_folder"
    assert infer_format("x.jsonl") == "jsonl" and infer_format("x.pq") == "parquet"
    assert infer_format("x.unknown") is None
    assert DataConfig(train="a.txt", format="csv").format_of("a.txt") == "csv"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "data.train"),
        ({"builtin": "digits", "train": "a.csv"}, "exclusive"),
        ({"format": "builtin"}, "data.builtin must name"),
        ({"train": "a.csv", "encoding": "klingon-8"}, "data.encoding"),
        ({"train": "a.csv", "split": {"validation": 0.5, "test": 0.5}}, "< 0.9"),
        ({"train": "a.csv", "split": {"validation": -0.1}}, "split.validation"),
        ({"train": "a.csv", "kfold": 1}, "kfold"),
        ({"train": "a.csv", "kfold": 3, "validation": "b.csv"}, "exclusive"),
        ({"train": "a.weird"}, "cannot infer data.format"),
        ({"train": "a.csv", "image": {"std": [1, 0, 1]}}, "std"),
        ({"train": "a.csv", "max_train_samples": 1}, "max_train_samples"),
        ({"train": "a.csv", "text_colum": "x"}, "unknown key"),
        ({"builtin": "rotten_tomatoes", "task": "regression"}, "classification"),
    ],
)
def test_bad_configs_name_the_field(data, needle):
    with pytest.raises(ConfigError, match=needle):
        validate(DataConfig, data, "cfg.yaml")


def test_config_is_frozen():
    cfg = DataConfig(builtin="digits")
    with pytest.raises(Exception):
        cfg.kfold = 3  # type: ignore[misc]
    assert DataConfig(builtin="digits").augment.enabled is False
    assert DataConfig(builtin="digits", augment={"hflip": True}).augment.enabled is True
