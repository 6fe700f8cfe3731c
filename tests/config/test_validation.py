"""Declared ranges (``Field(gt=...)`` and the aliases of config.base) still read as
``<file>:<line>: <field>: must be <rule>, got <value>`` (DESIGN §4.3)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from tunesmith.config.base import (
    FactorUpToOne,
    FractionBelowOne,
    Frozen,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from tunesmith.config.finetune import FinetuneConfig
from tunesmith.config.loader import parse_yaml, validate
from tunesmith.errors import ConfigError


class Ranges(Frozen):
    positive: PositiveFloat = 1.0
    non_negative: NonNegativeFloat = 0.0
    count: PositiveInt = 1
    index: NonNegativeInt = 0
    fraction: FractionBelowOne = 0.0
    factor: FactorUpToOne = 1.0
    optional: PositiveInt | None = None
    declared: float = Field(default=0.5, gt=0, le=2)
    below: float = Field(default=0.0, lt=3)
    pair: tuple[FractionBelowOne, FractionBelowOne] = (0.0, 0.0)
    items: list[Annotated[int, Field(le=9)]] = Field(default_factory=list)


def _error(text: str, model: type = Ranges) -> str:
    loaded = parse_yaml(text, "r.yaml")
    with pytest.raises(ConfigError) as info:
        validate(model, loaded.data, "r.yaml", loaded)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("positive: -0.1", "positive: must be > 0, got -0.1"),
        ("positive: .nan", "positive: must be > 0, got nan"),
        ("non_negative: -1", "non_negative: must be >= 0, got -1"),
        ("count: 0", "count: must be >= 1, got 0"),
        ("index: -2", "index: must be >= 0, got -2"),
        ("fraction: 1", "fraction: must be in [0, 1), got 1"),
        ("fraction: -0.5", "fraction: must be in [0, 1), got -0.5"),
        ("factor: 0", "factor: must be in (0, 1], got 0"),
        ("factor: 1.5", "factor: must be in (0, 1], got 1.5"),
        ("optional: 0", "optional: must be >= 1 or null, got 0"),
        ("declared: 2.5", "declared: must be in (0, 2], got 2.5"),
        ("below: 3", "below: must be < 3, got 3"),
        ("pair: [0.5, 1.0]", "pair.1: must be in [0, 1), got 1.0"),
        ("items: [1, 10]", "items.1: must be <= 9, got 10"),
    ],
)
def test_range_errors_name_field_rule_value(text, message):
    assert _error(text) == f"r.yaml:1: {message}"


def test_every_range_error_of_a_document_is_listed_with_its_line():
    lines = _error("positive: 0\ncount: 1\nfraction: 2\n").splitlines()
    assert lines == [
        "r.yaml:1: positive: must be > 0, got 0",
        "r.yaml:3: fraction: must be in [0, 1), got 2",
    ]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("train: {optimizer: {lr: -0.1}}", "train.optimizer.lr: must be > 0, got -0.1"),
        ("train: {optimizer: {betas: [0.9, 1]}}", "train.optimizer.betas.1: must be in [0, 1)"),
        ("train: {optimizer: {layer_decay: 0}}", "train.optimizer.layer_decay: must be in (0, 1]"),
        ("train: {schedule: {warmup_ratio: 1}}", "train.schedule.warmup_ratio: must be in [0, 1)"),
        ("train: {schedule: {gamma: 2}}", "train.schedule.gamma: must be in (0, 1], got 2"),
        ("train: {loss: {label_smoothing: 1}}", "train.loss.label_smoothing: must be in [0, 1)"),
        ("train: {loss: {name: huber, delta: 0}}", "train.loss.delta: must be > 0, got 0"),
        ("train: {regularization: {l1: -1}}", "train.regularization.l1: must be >= 0, got -1"),
        ("train: {freezing: {unfreeze_every: 0}}", "train.freezing.unfreeze_every: must be >= 1"),
        ("train: {early_stopping: {patience: 0}}", "train.early_stopping.patience: must be >= 1"),
        ("train: {max_grad_norm: -1}", "train.max_grad_norm: must be > 0 or null, got -1"),
        ("data: {train: a.csv, image: {std: [1, 0, 1]}}", "data.image.std.1: must be > 0, got 0"),
    ],
)
def test_finetune_config_ranges(section, message):
    text = section if section.startswith("data") else f"{section}\ndata: {{train: a.csv}}"
    assert message in _error(text, FinetuneConfig)


def test_field_relations_keep_their_own_messages():
    msg = _error("train: {schedule: {name: cosine, lr_min: 0.1}, optimizer: {lr: 0.01}}\n"
                 "data: {train: a.csv}", FinetuneConfig)  # fmt: skip
    assert "schedule.lr_min must be < optimizer.lr (0.01), got 0.1" in msg
