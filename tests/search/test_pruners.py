"""Pruner creation: defaults, options checked against Optuna's signatures."""

from __future__ import annotations

import optuna
import pytest

from tunesmith.config.search import PrunerConfig
from tunesmith.errors import ConfigError
from tunesmith.search.pruners import PRUNERS, create_pruner

CLASSES = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


@pytest.mark.parametrize("name", list(PRUNERS))
def test_each_name_builds_its_class(name: str) -> None:
    assert type(create_pruner(PrunerConfig(name=name))) is CLASSES[name]


def test_options_reach_the_pruner() -> None:
    asha = create_pruner(
        PrunerConfig(name="asha", options={"min_resource": 2, "reduction_factor": 3})
    )
    assert asha._min_resource == 2 and asha._reduction_factor == 3  # type: ignore[attr-defined]
    hb = create_pruner(PrunerConfig(name="hyperband", options={"max_resource": 27}))
    assert hb._max_resource == 27  # type: ignore[attr-defined]
    pct = create_pruner(PrunerConfig(name="percentile"))
    assert pct._percentile == 25.0  # type: ignore[attr-defined]
    pct = create_pruner(PrunerConfig(name="percentile", options={"percentile": 10}))
    assert pct._percentile == 10  # type: ignore[attr-defined]


def test_unknown_option_names_the_key_and_the_accepted_ones() -> None:
    with pytest.raises(ConfigError) as info:
        create_pruner(PrunerConfig(name="hyperband", options={"max_resources": 9}))
    message = str(info.value)
    assert message.startswith("study.pruner.options.max_resources: unknown option")
    assert "max_resource, reduction_factor" in message
    with pytest.raises(ConfigError, match=r"options\.x: unknown option for pruner none"):
        create_pruner(PrunerConfig(name="none", options={"x": 1}))


def test_bad_values_become_config_errors() -> None:
    with pytest.raises(ConfigError, match="pruner asha refused"):
        create_pruner(PrunerConfig(name="asha", options={"min_resource": 0}))
    with pytest.raises(ConfigError, match="pruner percentile refused"):
        create_pruner(PrunerConfig(name="percentile", options={"percentile": 150}))
