"""TrainConfig: defaults, validation messages, registries in sync with the config names."""

from __future__ import annotations

import pytest

from tunesmith.config.loader import parse_yaml, validate
from tunesmith.config.train import (
    LOSS_NAMES,
    METRIC_NAMES,
    OPTIMIZER_NAMES,
    SCHEDULE_NAMES,
    STRATEGY_NAMES,
    TrainConfig,
)
from tunesmith.errors import ConfigError


def _load(text: str) -> TrainConfig:
    loaded = parse_yaml(text, "t.yaml")
    return validate(TrainConfig, loaded.data, "t.yaml", loaded)


def test_defaults_and_yaml_round_trip():
    cfg = TrainConfig()
    assert cfg.optimizer.name == "adamw" and cfg.schedule.name == "constant"
    again = TrainConfig.model_validate(cfg.model_dump())
    assert again == cfg
    cfg2 = _load("epochs: 5\noptimizer: {name: sgd, lr: 1e-2, momentum: 0.9, nesterov: true}\n")
    assert cfg2.epochs == 5 and cfg2.optimizer.lr == pytest.approx(0.01)
    assert cfg2.optimizer.nesterov


def test_frozen():
    cfg = TrainConfig()
    with pytest.raises(Exception):
        cfg.epochs = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("yaml", "needle"),
    [
        ("optimizer: {lr: -0.1}", "optimizer.lr: must be > 0, got -0.1"),
        ("epochs: 0", "epochs: must be >= 1, got 0"),
        ("batch_size: 0", "batch_size: must be >= 1, got 0"),
        ("optimizer: {layer_decay: 1.5}", "optimizer.layer_decay: must be in (0, 1], got 1.5"),
        ("optimizer: {name: adam, nesterov: true}", "nesterov requires"),
        ("optimizer: {name: lion}", "optimizer.name"),
        ("schedule: {warmup_steps: 3, warmup_ratio: 0.1}", "not both"),
        ("loss: {name: mse, class_weights: balanced}", "class_weights applies only"),
        ("loss: {name: focal, label_smoothing: 0.1}", "label_smoothing applies only"),
        ("loss: {class_weights: [1.0, -2.0]}", "loss.class_weights"),
        ("metric: acuracy", "metric: must be one of"),
        ("device: gpu", "device: must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ("max_grad_norm: 0", "max_grad_norm: must be > 0"),
        ("freezing: {strategy: last_k, k: -1}", "freezing.k: must be >= 0, got -1"),
        ("early_stopping: {patience: 0}", "early_stopping.patience"),
        ("schedule: {name: cosine, lr_min: 0.1}\noptimizer: {lr: 0.01}", "lr_min must be <"),
        ("optimiser: {lr: 0.1}", "unknown key; did you mean 'optimizer'"),
        (
            "epochs: 4\nschedule: {name: cosine, horizon_epochs: 3}",
            "schedule.horizon_epochs must be >= epochs (4): a run follows the first epochs of "
            "its schedule; got 3",
        ),
        (
            "schedule: {name: step, horizon_epochs: 6}",
            "horizon_epochs applies only to the cosine and linear schedules or a warmup_ratio "
            "(it would do nothing); got name 'step', horizon_epochs=6",
        ),
    ],
)
def test_validation_messages_name_field_rule_value(yaml, needle):
    with pytest.raises(ConfigError) as err:
        _load(yaml)
    assert needle in str(err.value)
    assert "t.yaml" in str(err.value)


def test_task_checks():
    TrainConfig().check_task("classification")
    with pytest.raises(ConfigError, match="does not apply to a regression task"):
        TrainConfig().check_task("regression")
    reg = TrainConfig.model_validate({"loss": {"name": "huber"}})
    reg.check_task("regression")
    assert reg.resolved_metric("regression") == "mse"
    with pytest.raises(ConfigError, match="train.metric 'accuracy'"):
        TrainConfig.model_validate({"loss": {"name": "mse"}, "metric": "accuracy"}).check_task(
            "regression"
        )


def test_registries_match_config_literals():
    from tunesmith.engine.freezing import STRATEGIES
    from tunesmith.engine.losses import LOSSES
    from tunesmith.engine.metrics import METRICS
    from tunesmith.engine.optim import OPTIMIZERS
    from tunesmith.engine.schedules import SCHEDULES

    assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES)
    assert set(SCHEDULES) == set(SCHEDULE_NAMES)
    assert set(LOSSES) == set(LOSS_NAMES)
    assert set(STRATEGIES) == set(STRATEGY_NAMES)
    assert set(METRICS) == set(METRIC_NAMES)
    for registry in (OPTIMIZERS, SCHEDULES, LOSSES, STRATEGIES, METRICS):
        with pytest.raises(TypeError):
            registry["new"] = None  # read-only


def test_docstring_yaml_shape_matches_defaults():
    import yaml

    import tunesmith.config.train as mod

    doc = mod.__doc__.split("::", 1)[1].split("\n\n", 2)[1]
    shown = yaml.safe_load(doc)["train"]
    defaults = TrainConfig().model_dump(mode="json")
    assert shown == {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}


def test_horizon_epochs_defaults_to_the_epochs():
    assert TrainConfig(epochs=3).horizon_epochs == 3
    cfg = TrainConfig(epochs=3, schedule={"name": "constant", "warmup_ratio": 0.1,
                                          "horizon_epochs": 5})  # fmt: skip
    assert cfg.horizon_epochs == 5 and cfg.schedule.uses_horizon
