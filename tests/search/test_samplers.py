"""Sampler creation: the auto rule, options, multi-objective support and warnings."""

from __future__ import annotations

import logging

import optuna
import pytest

from tunesmith.config.search import SamplerConfig
from tunesmith.errors import ConfigError
from tunesmith.search.samplers import SAMPLERS, choose_sampler, create_sampler
from tunesmith.search.space import SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

NUMERIC = SearchSpace.from_config(
    {
        "x": {"type": "float", "low": -1.0, "high": 1.0},
        "n": {"type": "int", "low": 1, "high": 8},
        "e": {"type": "fixed", "value": "a"},
    }
)
MIXED = SearchSpace.from_config(
    {
        "x": {"type": "float", "low": -1.0, "high": 1.0, "step": 0.5},
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
    }
)
CONDITIONAL = SearchSpace.from_config(
    {
        "x": {"type": "int", "low": 0, "high": 2},
        "y": {"type": "float", "low": 0.0, "high": 1.0, "when": {"x": 1}},
    }
)
MIN = ["minimize"]


@pytest.mark.parametrize(
    ("space", "n_trials", "directions", "expected"),
    [
        (NUMERIC, 5, MIN, "random"),
        (MIXED, 9, MIN, "random"),
        (NUMERIC, 10, MIN, "gp"),
        (NUMERIC, 100, MIN, "gp"),
        (NUMERIC, 101, MIN, "tpe"),
        (NUMERIC, None, MIN, "tpe"),
        (MIXED, 50, MIN, "tpe"),
        (CONDITIONAL, 50, MIN, "tpe"),
        (NUMERIC, 50, ["minimize", "maximize"], "tpe"),
    ],
)
def test_auto_rule(space, n_trials, directions, expected) -> None:
    assert choose_sampler(space, n_trials, directions) == expected
    sampler = create_sampler(SamplerConfig(seed=0), space, n_trials, directions)
    classes = {"random": "RandomSampler", "gp": "GPSampler", "tpe": "TPESampler"}
    if expected in ("tpe", "gp"):  # model-based samplers learn from failures (a wrapper)
        assert type(sampler).__name__ == "FailureAwareSampler"
        sampler = sampler.base
    assert type(sampler).__name__ == classes[expected]


def test_auto_rule_many_dimensions_goes_to_tpe() -> None:
    wide = SearchSpace.from_config(
        {f"p{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(11)}
    )
    assert choose_sampler(wide, 50, MIN) == "tpe"


def test_tpe_defaults_suit_conditional_and_parallel_search() -> None:
    sampler = create_sampler(SamplerConfig(name="tpe"), CONDITIONAL, 50, MIN).base
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate is True and sampler._group is True
    assert sampler._constant_liar is True


def test_options_reach_the_sampler_and_override_defaults() -> None:
    config = SamplerConfig(name="tpe", options={"n_startup_trials": 3, "constant_liar": False})
    sampler = create_sampler(config, NUMERIC, 50, MIN)
    assert sampler._n_startup_trials == 3  # type: ignore[attr-defined]
    assert sampler._constant_liar is False  # type: ignore[attr-defined]


def test_unknown_option_is_named_with_the_accepted_ones() -> None:
    config = SamplerConfig(name="tpe", options={"n_startup": 3})
    with pytest.raises(ConfigError) as info:
        create_sampler(config, NUMERIC, 50, MIN)
    message = str(info.value)
    assert message.startswith("study.sampler.options.n_startup: unknown option for sampler tpe")
    assert "n_startup_trials" in message and "seed" not in message.split("accepted:")[1]


def test_seed_is_not_an_option() -> None:
    with pytest.raises(ConfigError, match="options.seed: unknown option"):
        create_sampler(SamplerConfig(name="random", options={"seed": 1}), NUMERIC, 5, MIN)


def test_option_values_refused_by_optuna_become_config_errors() -> None:
    config = SamplerConfig(name="tpe", options={"multivariate": False})  # group needs it
    with pytest.raises(ConfigError, match="study.sampler.options: sampler tpe refused"):
        create_sampler(config, NUMERIC, 50, MIN)
    with pytest.raises(ConfigError, match="refused"):
        create_sampler(SamplerConfig(name="qmc", options={"qmc_type": "lhs"}), NUMERIC, 50, MIN)


def test_auto_takes_no_options() -> None:
    with pytest.raises(ConfigError, match="options need a named sampler"):
        create_sampler(SamplerConfig(options={"n_startup_trials": 1}), NUMERIC, 50, MIN)


def test_cmaes_refuses_several_objectives_and_lists_those_that_can() -> None:
    with pytest.raises(ConfigError) as info:
        create_sampler(SamplerConfig(name="cmaes"), NUMERIC, 50, ["minimize", "minimize"])
    assert "optimises one objective" in str(info.value) and "tpe" in str(info.value)


@pytest.mark.parametrize("name", [n for n, e in SAMPLERS.items() if e.multi_objective])
def test_multi_objective_samplers_run_two_objectives(name: str) -> None:
    options = {"n_startup_trials": 3} if name in ("tpe", "gp") else {}
    if name == "nsga2":
        options = {"population_size": 4}
    config = SamplerConfig(name=name, seed=0, options=options)
    sampler = create_sampler(config, MIXED, 8, ["minimize", "maximize"])
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)

    def objective(trial):
        p = MIXED.suggest(trial)
        return p["x"] ** 2, float(p["opt"] == "adam") + p["x"]

    study.optimize(objective, n_trials=8)
    assert len(study.trials) == 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert study.best_trials


def test_grid_warns_when_the_budget_is_short(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="tunesmith.search.samplers"):
        create_sampler(SamplerConfig(name="grid"), MIXED, 3, MIN)
    assert "3 trials cover 3 of the 10 grid points" in caplog.text


def test_grid_on_continuous_space_names_the_param() -> None:
    with pytest.raises(ConfigError, match=r"space\.x: the grid sampler needs"):
        create_sampler(SamplerConfig(name="grid"), NUMERIC, 10, MIN)


@pytest.mark.parametrize(
    ("name", "space", "fallback"),
    [("cmaes", MIXED, "opt"), ("cmaes", CONDITIONAL, "y"), ("qmc", CONDITIONAL, "y")],
)
def test_independent_fallback_is_warned_once(caplog, name, space, fallback) -> None:
    with caplog.at_level(logging.WARNING, logger="tunesmith.search.samplers"):
        create_sampler(SamplerConfig(name=name, seed=0), space, 20, MIN)
    records = [r for r in caplog.records if "sampled independently" in r.getMessage()]
    assert len(records) == 1 and fallback in records[0].getMessage()


def test_qmc_is_a_scrambled_sobol_sequence() -> None:
    sampler = create_sampler(SamplerConfig(name="qmc", seed=3), NUMERIC, 20, MIN)
    assert sampler._qmc_type == "sobol" and sampler._scramble is True  # type: ignore[attr-defined]
