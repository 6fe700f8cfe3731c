"""The ``distill`` section and ``model.num_layers``: bad values are errors naming field, rule
and value; references resolve to folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesmith.config.distill import DistillConfig
from tunesmith.config.experiment import ExperimentConfig
from tunesmith.config.finetune import FinetuneConfig, resolve_paths
from tunesmith.config.loader import validate
from tunesmith.config.model import ModelConfig
from tunesmith.errors import ConfigError

DATA = {"builtin": "rotten_tomatoes"}


def _job(**fields: Any) -> FinetuneConfig:
    return validate(FinetuneConfig, {"data": DATA, **fields}, "job")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("distill", "words"),
    [
        ({"teacher": "t", "alpha": 0}, ["distill.alpha", "(0, 1]", "got 0"]),
        ({"teacher": "t", "alpha": 1.5}, ["distill.alpha", "(0, 1]", "1.5"]),
        ({"teacher": "t", "temperature": 0}, ["distill.temperature", "(0, 100]", "got 0"]),
        ({"teacher": "t", "temperature": -2}, ["distill.temperature", "(0, 100]", "-2"]),
        ({"teacher": ""}, ["distill.teacher", "empty"]),
        ({"teacher": "study:../up"}, ["distill.teacher", "folder name"]),
        ({"temperature": 2}, ["distill.teacher"]),
        ({"teacher": "t", "beta": 1}, ["distill.beta"]),
    ],
)
def test_bad_distill_values_name_field_rule_and_value(distill: Any, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _job(distill=distill)
    for word in words:
        assert word in str(info.value)


def test_distill_needs_classification_and_no_augmentation() -> None:
    with pytest.raises(ConfigError, match=r"distill:.*classification.*'regression'"):
        validate(
            FinetuneConfig,
            {"data": {"train": "x.csv", "task": "regression"}, "distill": {"teacher": "t"}},
            "job",
        )
    with pytest.raises(ConfigError, match=r"distill:.*augmentation.*data.augment"):
        validate(
            FinetuneConfig,
            {
                "model": {"kind": "efficientnet"},
                "data": {"builtin": "digits", "augment": {"hflip": True}},
                "distill": {"teacher": "t"},
            },
            "job",
        )


def test_num_layers_is_for_text_encoders_only() -> None:
    assert validate(ModelConfig, {"num_layers": 3}, "m").num_layers == 3
    with pytest.raises(ConfigError, match=r"num_layers: must be >= 1.*got 0"):
        validate(ModelConfig, {"num_layers": 0}, "m")
    with pytest.raises(ConfigError, match=r"model.num_layers.*'efficientnet'.*smaller.*3"):
        validate(ModelConfig, {"kind": "efficientnet", "num_layers": 3}, "m")


def test_teacher_references_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = DistillConfig(teacher="study:big-one")
    assert cfg.teacher_path() == tmp_path / "runs" / "big-one" / "best" / "model"
    assert DistillConfig(teacher="m/teacher").teacher_path(Path("/x")) == Path("/x/m/teacher")
    base = Path("/cfgs")
    out = resolve_paths({"data": DATA, "distill": {"teacher": "models/t"}}, base)
    assert out["distill"]["teacher"] == str(base / "models/t")
    out = resolve_paths({"data": DATA, "distill": {"teacher": "study:big-one"}}, base)
    assert out["distill"]["teacher"] == str(tmp_path / "runs" / "big-one" / "best" / "model")


def test_distill_belongs_to_a_finetuning_experiment() -> None:
    with pytest.raises(ConfigError, match=r"distill belong to a fine-tuning job"):
        validate(
            ExperimentConfig,
            {
                "study": {"name": "s"},
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "objective": "math:sqrt",
                "distill": {"teacher": "t"},
            },
            "exp",
        )
    exp = validate(
        ExperimentConfig,
        {"study": {"name": "s"}, "space": "default", "data": DATA, "distill": {"teacher": "t"}},
        "exp",
    )
    assert exp.distill is not None and exp.distill.alpha == 0.5


def test_the_distill_example_validates() -> None:
    from tunesmith.config.experiment import load_experiment
    from tunesmith.experiment.finetune.objective import check_space_paths
    from tunesmith.experiment.finetune.pipeline import job_base
    from tunesmith.search.space import SearchSpace

    root = Path(__file__).resolve().parents[2]
    cfg = load_experiment(root / "examples" / "distill.yaml")
    assert cfg.distill is not None and cfg.distill.teacher == "study:demo-minilm-rt"
    assert cfg.model is not None and cfg.model.num_layers == 3
    check_space_paths(job_base(cfg), SearchSpace.from_config(cfg.space))
