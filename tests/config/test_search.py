"""Search-space config: every rule refuses bad input with a message naming the parameter."""

from __future__ import annotations

import pydantic
import pytest

from tunesmith.config.loader import parse_yaml, validate
from tunesmith.config.search import (
    CategoricalParam,
    FloatParam,
    IntParam,
    PrunerConfig,
    SamplerConfig,
    SpaceConfig,
)
from tunesmith.errors import ConfigError
from tunesmith.search.space import SearchSpace

YAML = """
space:
  train.optimizer.name: {type: categorical, choices: [adamw, sgd]}
  train.optimizer.lr: {type: float, low: 1e-5, high: 1e-2, log: true}
  train.optimizer.momentum: {type: float, low: 0.5, high: 0.99, when: {train.optimizer.name: sgd}}
  train.freezing.k: {type: int, low: 0, high: 6, step: 2}
  train.epochs: {type: fixed, value: 3}
"""


def test_yaml_space_loads_with_dotted_keys_kept() -> None:
    data = parse_yaml(YAML).data["space"]
    space = SearchSpace.from_config(data)
    assert list(space.specs) == list(data)
    lr = space.specs["train.optimizer.lr"]
    assert isinstance(lr, FloatParam) and lr.log and lr.low == 1e-5
    mom = space.specs["train.optimizer.momentum"]
    assert mom.when == {"train.optimizer.name": ["sgd"]}  # scalar became a one-item list
    assert isinstance(space.specs["train.freezing.k"], IntParam)


def test_models_are_frozen() -> None:
    spec = CategoricalParam(choices=["a", "b"])
    with pytest.raises(pydantic.ValidationError):
        spec.choices = ["c"]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, "low must be < high, got low=1.0 high=0.1"),
        ({"type": "float", "low": 1.0, "high": 1.0}, "low must be < high"),
        ({"type": "int", "low": 5, "high": 2}, "low must be < high, got low=5 high=2"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log needs low > 0, got low=0.0"),
        ({"type": "int", "low": 0, "high": 8, "log": True}, "log needs low > 0"),
        (
            {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "step": 0.1},
            "log and step cannot be combined",
        ),
        ({"type": "int", "low": 1, "high": 8, "log": True, "step": 2}, "log and step"),
        ({"type": "float", "low": 0, "high": 1, "step": 0.3}, "multiple of step"),
        ({"type": "float", "low": 0, "high": 1, "step": -0.5}, "step must be > 0"),
        ({"type": "int", "low": 0, "high": 1, "step": 0}, "step must be >= 1"),
        ({"type": "float", "low": 0, "high": 1, "grid": [0.5, 2.0]}, "grid values must lie in"),
        ({"type": "float", "low": 0, "high": 1, "grid": [0.5, 0.5]}, "grid values must be unique"),
        ({"type": "int", "low": 0, "high": 4, "step": 2, "grid": [1]}, "on step 2"),
        ({"type": "categorical", "choices": []}, "choices must not be empty"),
        ({"type": "categorical", "choices": ["a", "a"]}, "choices must be unique"),
        ({"type": "categorical", "choices": [1, True]}, "choices must be unique"),
        ({"type": "categorical", "choices": [[1, 2]]}, "choices"),
        ({"type": "floaty", "low": 0, "high": 1}, "unknown parameter type 'floaty'"),
        ({"low": 0, "high": 1}, "type: required key is missing"),
        ({"type": "float", "low": 0, "high": 1, "lg": True}, "lg: unknown key"),
        ({"type": "float", "low": 0}, "high: required key is missing"),
        ({"type": "float", "low": "x", "high": 1}, "low: Input should be a valid number"),
        ({"type": "fixed"}, "value: required key is missing"),
        (3, "a parameter must be a mapping with a `type`, got 3"),
    ],
)
def test_param_rules_name_the_path(param: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_config({"train.optimizer.lr": param})
    message = str(info.value)
    assert message.startswith("space.train.optimizer.lr"), message
    assert expected in message


def test_exact_message_for_bounds() -> None:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_config({"train.optimizer.lr": {"type": "float", "low": 1.0, "high": 0.1}})
    assert str(info.value) == "space.train.optimizer.lr: low must be < high, got low=1.0 high=0.1"


def test_every_error_is_reported_with_source_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_config(
            {
                "a": {"type": "int", "low": 3, "high": 1},
                "b": {"type": "categorical", "choices": []},
            },
            field="search.space",
            source="exp.yaml",
        )
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("exp.yaml: search.space.a: low must be < high")
    assert lines[1].startswith("exp.yaml: search.space.b.choices: choices must not be empty")


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (
            {"a": {"type": "int", "low": 0, "high": 2, "when": {"b": "x"}}},
            "space.a: when refers to 'b', which is not a parameter of the space",
        ),
        (
            {
                "a": {"type": "int", "low": 0, "high": 2, "when": {"b": 1}},
                "b": {"type": "int", "low": 0, "high": 2, "when": {"c": 1}},
                "c": {"type": "int", "low": 0, "high": 2, "when": {"a": 1}},
            },
            "when dependencies form a cycle: a -> b -> c -> a",
        ),
        (
            {"a": {"type": "int", "low": 0, "high": 2, "when": {"a": 1}}},
            "space.a: when refers to the parameter itself",
        ),
        (
            {
                "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
                "mom": {"type": "float", "low": 0, "high": 1, "when": {"opt": "rmsprop"}},
            },
            "space.mom: when.opt: 'rmsprop' is not a possible value of opt",
        ),
        (
            {
                "k": {"type": "int", "low": 0, "high": 4, "step": 2},
                "mom": {"type": "float", "low": 0, "high": 1, "when": {"k": [0, 3]}},
            },
            "space.mom: when.k: 3 is not a possible value of k",
        ),
        (
            {
                "x": {"type": "float", "low": 0, "high": 1},
                "y": {"type": "float", "low": 0, "high": 1, "when": {"x": 0.5}},
            },
            "space.y: when.x: a continuous float cannot be a condition",
        ),
        (
            {
                "e": {"type": "fixed", "value": 3},
                "y": {"type": "float", "low": 0, "high": 1, "when": {"e": 4}},
            },
            "space.y: when.e: 4 is not a possible value of e",
        ),
        (
            {"x": {"type": "int", "low": 0, "high": 1, "when": {"": 1}}},
            "when: parent names are dotted paths",
        ),
        ({"a..b": {"type": "int", "low": 0, "high": 1}}, "parameter names are dotted paths"),
    ],
)
def test_space_rules(space: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_config(space)
    assert expected in str(info.value)


def test_space_must_be_a_non_empty_mapping() -> None:
    with pytest.raises(ConfigError, match="space must be a mapping"):
        SearchSpace.from_config([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one parameter"):
        SearchSpace.from_config({})


def test_space_config_root_model_checks_links() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a parameter of the space"):
        SpaceConfig.model_validate({"a": {"type": "int", "low": 0, "high": 2, "when": {"z": 1}}})
    ok = SpaceConfig.model_validate({"a": {"type": "categorical", "choices": [None, 1.5, "s"]}})
    assert ok.root["a"].choices == [None, 1.5, "s"]  # type: ignore[union-attr]
    assert SearchSpace.from_config(ok).names == ("a",)


@pytest.mark.parametrize("model", [SamplerConfig, PrunerConfig])
def test_bare_string_and_unknown_names(model: type) -> None:
    name = "tpe" if model is SamplerConfig else "asha"
    assert model.model_validate(name).name == name
    assert model.model_validate({"name": name, "options": {"a": 1}}).options == {"a": 1}
    with pytest.raises(ConfigError) as info:
        validate(model, "tpee", "exp.yaml")
    assert "unknown" in str(info.value) and "known:" in str(info.value)
    assert "tpe" in str(info.value) or "asha" in str(info.value)
    with pytest.raises(ConfigError, match="unknown key"):
        validate(model, {"name": name, "option": {}}, "exp.yaml")


def test_defaults() -> None:
    assert SamplerConfig() == SamplerConfig(name="auto", seed=None, options={})
    assert PrunerConfig().name == "none"


def test_finetune_only_sections_are_refused_for_other_objectives() -> None:
    """``final: {train_on: train+validation}`` means nothing to a Python or sklearn objective."""
    from tunesmith.config.experiment import ExperimentConfig
    from tunesmith.config.loader import validate
    from tunesmith.errors import ConfigError

    base = {
        "study": {"name": "x"},
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "examples.objectives:branin",
    }
    assert validate(ExperimentConfig, base, "exp.yaml").final.train_on == "train"
    with pytest.raises(ConfigError, match="final belong to a fine-tuning job"):
        validate(ExperimentConfig, {**base, "final": {"train_on": "train+validation"}}, "exp.yaml")
