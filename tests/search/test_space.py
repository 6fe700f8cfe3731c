"""SearchSpace: order, activity, suggestion, grid enumeration and distributions."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FixedTrial

from tunesmith.errors import ConfigError
from tunesmith.search.space import MAX_GRID_POINTS, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The child is declared before its parent, and the grandchild before both: order must fix that.
NESTED = {
    "train.optimizer.beta": {
        "type": "float",
        "low": 0.8,
        "high": 0.9,
        "step": 0.05,
        "when": {"train.optimizer.nesterov": True},
    },
    "train.optimizer.nesterov": {
        "type": "categorical",
        "choices": [True, False],
        "when": {"train.optimizer.name": "sgd"},
    },
    "train.optimizer.name": {"type": "categorical", "choices": ["sgd", "adamw", "lion"]},
    "train.freezing.k": {"type": "int", "low": 0, "high": 4, "step": 2},
    "train.epochs": {"type": "fixed", "value": 3},
}


def test_names_put_parents_first_and_keep_declaration_order_otherwise() -> None:
    space = SearchSpace.from_config(NESTED)
    names = space.names
    assert names.index("train.optimizer.name") < names.index("train.optimizer.nesterov")
    assert names.index("train.optimizer.nesterov") < names.index("train.optimizer.beta")
    assert names[-2:] == ("train.freezing.k", "train.epochs")
    assert space.is_conditional
    assert not SearchSpace.from_config({"a": {"type": "int", "low": 0, "high": 1}}).is_conditional


def test_is_active_is_transitive() -> None:
    space = SearchSpace.from_config(NESTED)
    beta = "train.optimizer.beta"
    assert space.is_active(beta, {"train.optimizer.name": "sgd", "train.optimizer.nesterov": True})
    assert not space.is_active(beta, {"train.optimizer.nesterov": False})
    # an inactive parent is absent, so its child is inactive too
    assert not space.is_active(beta, {"train.optimizer.name": "adamw"})
    assert space.is_active("train.freezing.k", {})


def test_multi_parent_condition_needs_every_parent() -> None:
    space = SearchSpace.from_config(
        {
            "a": {"type": "categorical", "choices": ["x", "y"]},
            "b": {"type": "int", "low": 0, "high": 3},
            "c": {"type": "float", "low": 0, "high": 1, "when": {"a": "x", "b": [1, 2]}},
        }
    )
    assert space.is_active("c", {"a": "x", "b": 2})
    assert not space.is_active("c", {"a": "x", "b": 3})
    assert not space.is_active("c", {"a": "y", "b": 1})
    points = space.grid_values("b")
    assert points == [0, 1, 2, 3]


def test_suggest_follows_conditions() -> None:
    space = SearchSpace.from_config(NESTED)
    chosen = space.suggest(
        FixedTrial(
            {
                "train.optimizer.name": "sgd",
                "train.optimizer.nesterov": True,
                "train.optimizer.beta": 0.85,
                "train.freezing.k": 2,
            }
        )
    )
    assert chosen == {
        "train.optimizer.name": "sgd",
        "train.optimizer.nesterov": True,
        "train.optimizer.beta": 0.85,
        "train.freezing.k": 2,
        "train.epochs": 3,
    }
    # FixedTrial raises when asked for a parameter it lacks: inactive ones are never asked for
    chosen = space.suggest(FixedTrial({"train.optimizer.name": "adamw", "train.freezing.k": 0}))
    assert chosen == {"train.optimizer.name": "adamw", "train.freezing.k": 0, "train.epochs": 3}


def test_grid_points_enumerate_conditional_space_exactly() -> None:
    space = SearchSpace.from_config(NESTED)
    points = space.grid_points()
    # k: 3 values; name: adamw, lion (2) + sgd with nesterov False (1) or True x 3 betas (3)
    assert len(points) == 3 * (2 + 1 + 3)
    keys = {tuple(sorted(p.items())) for p in points}
    assert len(keys) == len(points)
    for p in points:
        assert p["train.epochs"] == 3
        assert ("train.optimizer.nesterov" in p) == (p["train.optimizer.name"] == "sgd")
        assert ("train.optimizer.beta" in p) == (p.get("train.optimizer.nesterov") is True)
    assert space.grid_values("train.optimizer.beta") == [0.8, 0.85, 0.9]


def test_float_step_grid_has_no_float_noise() -> None:
    space = SearchSpace.from_config({"p": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.1}})
    values = space.grid_values("p")
    assert len(values) == 11 and values[3] == 0.3 and values[-1] == 1.0


def test_grid_refuses_continuous_float_and_huge_grids() -> None:
    space = SearchSpace.from_config({"train.lr": {"type": "float", "low": 1e-5, "high": 1.0}})
    with pytest.raises(ConfigError, match=r"space\.train\.lr: the grid sampler needs .* `step`"):
        space.grid_points()
    big = SearchSpace.from_config({"n": {"type": "int", "low": 0, "high": MAX_GRID_POINTS + 5}})
    with pytest.raises(ConfigError, match="too many"):
        big.grid_points()
    wide = {f"p{i}": {"type": "int", "low": 0, "high": 9} for i in range(6)}
    with pytest.raises(ConfigError, match="more than"):
        SearchSpace.from_config(wide).grid_points()


def test_distributions_match_specs_and_skip_fixed() -> None:
    space = SearchSpace.from_config(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "k": {"type": "int", "low": 0, "high": 6, "step": 3},
            "opt": {"type": "categorical", "choices": ["a", "b"]},
            "e": {"type": "fixed", "value": 2},
        }
    )
    assert space.distributions() == {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "k": IntDistribution(0, 6, step=3),
        "opt": CategoricalDistribution(["a", "b"]),
    }


def test_suggest_in_a_real_study_records_distributions() -> None:
    space = SearchSpace.from_config(NESTED)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: float(len(space.suggest(t))), n_trials=30)
    dists = space.distributions()
    for trial in study.trials:
        for name, dist in trial.distributions.items():
            assert dists[name] == dist
    names = {t.params["train.optimizer.name"] for t in study.trials}
    assert names == {"sgd", "adamw", "lion"}


def test_invalid_links_in_constructor_are_config_errors() -> None:
    from tunesmith.config.search import IntParam

    with pytest.raises(ConfigError, match="space.a: when refers to 'b'"):
        SearchSpace({"a": IntParam(low=0, high=1, when={"b": [1]})})


# -- @variants: one config path, a range per condition ---------------------------------------------


def _variant_space(when_full):
    return {
        "s": {"type": "categorical", "choices": ["head", "full"]},
        "train.lr@head": {"type": "float", "low": 1e-3, "high": 1e-1, "when": {"s": "head"}},
        "train.lr@full": {"type": "float", "low": 1e-5, "high": 1e-4, "when": when_full},
    }


def test_variants_with_exclusive_conditions_sample_their_own_range():
    import optuna

    from tunesmith.config.search import param_path

    space = SearchSpace.from_config(_variant_space({"s": "full"}))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        params = space.suggest(study.ask())
        (name,) = [k for k in params if param_path(k) == "train.lr"]
        low, high = (1e-3, 1e-1) if params["s"] == "head" else (1e-5, 1e-4)
        assert name == f"train.lr@{params['s']}" and low <= params[name] <= high
        seen.add(params["s"])
    assert seen == {"head", "full"}
    assert param_path("train.lr@full") == "train.lr" and param_path("train.lr") == "train.lr"


@pytest.mark.parametrize(
    "when_full, rule",
    [
        ({"s": ["head", "full"]}, "must exclude each other"),
        ({}, "must exclude each other"),
    ],
)
def test_variants_that_could_both_be_active_are_refused(when_full, rule):
    with pytest.raises(ConfigError, match=rf"space\.train\.lr@full: writes train\.lr .*{rule}"):
        SearchSpace.from_config(_variant_space(when_full))


def test_empty_variant_tag_is_refused():
    with pytest.raises(ConfigError, match="variant tag"):
        SearchSpace.from_config({"train.lr@": {"type": "float", "low": 0.1, "high": 1.0}})
