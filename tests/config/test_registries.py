"""Contract (DESIGN §4.2, §4.8): every registry's keys are exactly the values its config field
accepts, and every registry answers an unknown name the same way, naming the field.

The config layer may not import the engine, search or runners, so the names live in the config
literals and this test checks each registry against them (the registries are imported lazily).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Mapping

import pytest

from tunesmith.config.data import DataConfig
from tunesmith.config.experiment import SklearnObjectiveConfig, StudyConfig
from tunesmith.config.model import ModelConfig
from tunesmith.config.optimization import OptimizerConfig, ScheduleConfig
from tunesmith.config.search import PRUNER_NAMES, SAMPLER_NAMES
from tunesmith.config.train import METRIC_NAMES, FreezingConfig, LossConfig
from tunesmith.errors import ConfigError
from tunesmith.utils.registry import Registry


def literal_values(model: type, field: str) -> set[str]:
    """The strings a model field's ``Literal`` (or ``Literal | None``) accepts."""

    def walk(tp: typing.Any) -> set[str]:
        if typing.get_origin(tp) is typing.Literal:
            return {str(a) for a in typing.get_args(tp)}
        return {v for arg in typing.get_args(tp) for v in walk(arg)}

    values = walk(model.model_fields[field].annotation)  # type: ignore[attr-defined]
    assert values, f"{model.__name__}.{field} is not a Literal"
    return values


# (registry "module:attribute", the YAML field it serves, the names that config accepts,
#  the message's kind, or None for a registry not yet built on Registry)
CASES = [
    (
        "tunesmith.engine.optim:OPTIMIZERS",
        "train.optimizer.name",
        literal_values(OptimizerConfig, "name"),
        "optimizer",
    ),
    (
        "tunesmith.engine.schedules:SCHEDULES",
        "train.schedule.name",
        literal_values(ScheduleConfig, "name"),
        "schedule",
    ),
    (
        "tunesmith.engine.losses:LOSSES",
        "train.loss.name",
        literal_values(LossConfig, "name"),
        "loss",
    ),
    (
        "tunesmith.engine.freezing:STRATEGIES",
        "train.freezing.strategy",
        literal_values(FreezingConfig, "strategy"),
        "freezing strategy",
    ),
    (
        "tunesmith.engine.metrics:METRICS",
        "train.metric",
        set(METRIC_NAMES),
        "metric",
    ),
    (
        "tunesmith.engine.models.registry:MODEL_BUILDERS",
        "model.kind",
        literal_values(ModelConfig, "kind"),
        "model kind",
    ),
    (
        "tunesmith.engine.data.readers:READERS",
        "data.format",
        literal_values(DataConfig, "format") - {"auto", "builtin"},
        "data format",
    ),
    (
        "tunesmith.engine.data.builtin:BUILTINS",
        "data.builtin",
        literal_values(DataConfig, "builtin"),
        None,
    ),
    (
        "tunesmith.search.samplers:SAMPLERS",
        "study.sampler.name",
        set(SAMPLER_NAMES),
        "sampler",
    ),
    (
        "tunesmith.search.pruners:PRUNERS",
        "study.pruner.name",
        set(PRUNER_NAMES),
        "pruner",
    ),
    (
        "tunesmith.runners:RUNNERS",
        "study.runner",
        literal_values(StudyConfig, "runner"),
        "runner",
    ),
    (
        "tunesmith.experiment.objectives:DATASET_LOADERS",
        "sklearn.dataset",
        literal_values(SklearnObjectiveConfig, "dataset"),
        None,
    ),
]


def _load(target: str) -> Mapping[str, typing.Any]:
    module, _, attr = target.partition(":")
    registry = getattr(importlib.import_module(module), attr)
    assert isinstance(registry, Mapping)
    return registry  # type: ignore[no-any-return]


@pytest.mark.parametrize(("target", "field", "names", "kind"), CASES, ids=[c[1] for c in CASES])
def test_registry_keys_are_the_config_values(target, field, names, kind):
    assert set(_load(target)) == names


@pytest.mark.parametrize(
    ("target", "field", "names", "kind"),
    [c for c in CASES if c[3] is not None],
    ids=[c[1] for c in CASES if c[3] is not None],
)
def test_registry_is_read_only_and_names_unknown_values(target, field, names, kind):
    registry = _load(target)
    assert isinstance(registry, Registry) and registry.kind == kind
    with pytest.raises(TypeError):
        registry["new"] = None  # type: ignore[index]
    first = next(iter(registry))
    assert registry.lookup(first, field) is registry[first]
    with pytest.raises(ConfigError) as info:
        registry.lookup("no_such_name", field)
    message = str(info.value)
    assert message.startswith(f"{field}: unknown {kind} 'no_such_name'; known: ")
    assert all(name in message for name in names)
