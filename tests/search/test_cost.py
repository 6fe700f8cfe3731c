"""The cost model's ranking: cheap first, deeper only after the shallower arm has run, expected
improvement per second, and nothing that does not fit in the time left."""

import math

import pytest

from tunesmith.search.cost import (
    DEPTH_COST_FACTORS,
    MIN_TRIALS,
    Arm,
    CostModel,
    depth_cost_factor,
    expected_improvement,
)

ARMS = [
    Arm("full", 2, 4),
    Arm("head", 0, 40),
    Arm("last_k", 1, 4),
    Arm("recipe0", 2, 4, limit=1, recipe=True),
]
HEAD_TO_LAST, LAST_TO_FULL = DEPTH_COST_FACTORS


def _names(model: CostModel, left: float | None = None) -> list[str]:
    return [r.arm.name for r in model.rank(left)]


def test_nothing_measured_runs_the_cheapest_arm_only() -> None:
    model = CostModel(ARMS)
    assert _names(model) == ["head"]  # deeper arms wait for MIN_TRIALS head trials
    assert model.expected_trial_seconds("head") is None


def test_deeper_arms_open_after_min_trials_and_their_cost_is_derived() -> None:
    model = CostModel(ARMS)
    for score in (0.70, 0.75, 0.78)[:MIN_TRIALS]:
        model.observe("head", seconds=2.0, epochs_run=20, score=score)
    assert "last_k" in _names(model)
    assert "full" not in _names(model)  # last_k has not run yet
    assert model.epoch_seconds("head") == pytest.approx(0.1)
    assert model.expected_trial_seconds("head") == pytest.approx(2.0)
    assert model.expected_trial_seconds("last_k") == pytest.approx(0.1 * HEAD_TO_LAST * 4)
    full = 0.1 * HEAD_TO_LAST * LAST_TO_FULL * 4
    assert model.expected_trial_seconds("full") == pytest.approx(full)


def test_converged_cheap_arm_yields_to_a_deeper_one_that_promises_a_gain() -> None:
    model = CostModel(ARMS)
    for _ in range(5):  # head has converged: the same score again and again
        model.observe("head", seconds=2.0, epochs_run=20, score=0.780)
    ranked = model.rank()
    assert ranked[0].arm.name == "last_k"
    head = next(r for r in ranked if r.arm.name == "head")
    assert ranked[0].rate > head.rate > 0


def test_still_improving_cheap_arm_stays_first() -> None:
    model = CostModel(ARMS)
    for score in (0.60, 0.70, 0.80):
        model.observe("head", seconds=2.0, epochs_run=20, score=score)
    assert _names(model)[0] == "head"


def test_arm_that_does_not_fit_in_the_time_left_is_not_ranked() -> None:
    model = CostModel(ARMS)
    for _ in range(MIN_TRIALS):
        model.observe("head", seconds=1.0, epochs_run=10, score=0.7)
        model.observe("last_k", seconds=20.0, epochs_run=4, score=0.8)
    full = model.expected_trial_seconds("full")
    assert full == pytest.approx(5.0 * LAST_TO_FULL * 4)
    assert "full" in _names(model, left=full + 1)
    assert "recipe0" in _names(model, left=full + 1)
    assert {"full", "recipe0"}.isdisjoint(_names(model, left=full - 1))
    assert model.next_arm(0.5) is None


def test_a_recipe_runs_once_and_its_cost_measures_its_depth() -> None:
    model = CostModel(ARMS)
    for _ in range(MIN_TRIALS):
        model.observe("head", seconds=1.0, epochs_run=10, score=0.7)
        model.observe("last_k", seconds=20.0, epochs_run=4, score=0.8)
    model.observe("recipe0", seconds=400.0, epochs_run=4, score=0.79)
    assert "recipe0" not in _names(model)
    assert model.expected_trial_seconds("full") == pytest.approx(400.0)


def test_pruned_trials_count_their_cost_not_a_score() -> None:
    model = CostModel(ARMS)
    model.observe("head", seconds=3.0, epochs_run=3, score=None)
    model.observe("head", seconds=1.0, epochs_run=1, score=math.nan)
    assert model.best() is None
    assert model.epoch_seconds("head") == pytest.approx(1.0)
    assert model.summary()["head"]["trials"] == 2


def test_minimising_ranks_the_lower_score_as_better() -> None:
    model = CostModel(ARMS, maximize=False)
    for loss in (0.9, 0.5, 0.4):
        model.observe("head", seconds=1.0, epochs_run=10, score=loss)
    assert model.summary()["head"]["best"] == pytest.approx(0.4)


def test_expected_improvement_is_the_normal_formula() -> None:
    assert expected_improvement(0.8, 0.01, 0.8) == pytest.approx(0.01 / math.sqrt(2 * math.pi))
    assert expected_improvement(0.9, 1e-6, 0.8) == pytest.approx(0.1, rel=1e-3)
    assert expected_improvement(0.5, 0.01, 0.8) < 1e-12


def test_unknown_arm_and_no_arms_are_errors() -> None:
    with pytest.raises(ValueError, match="at least one arm"):
        CostModel([])
    with pytest.raises(KeyError, match="unknown arm 'lora'; known: head"):
        CostModel(ARMS).observe("lora", 1.0, 1, 0.5)


def test_one_bad_deeper_trial_does_not_condemn_its_arm() -> None:
    model = CostModel(ARMS)
    for _ in range(5):
        model.observe("head", seconds=2.0, epochs_run=20, score=0.75)
    model.observe("last_k", seconds=20.0, epochs_run=4, score=0.60)  # an unlucky learning rate
    assert _names(model)[0] == "last_k"  # the prior holds until MIN_TRIALS trials
    for _ in range(MIN_TRIALS - 1):
        model.observe("last_k", seconds=20.0, epochs_run=4, score=0.60)
    assert _names(model)[0] != "last_k"  # now its own scores speak: it is worse


def test_depth_cost_factor_multiplies_the_levels_and_repeats_the_last() -> None:
    assert depth_cost_factor(0, 0) == 1.0
    assert depth_cost_factor(0, 2) == pytest.approx(HEAD_TO_LAST * LAST_TO_FULL)
    assert depth_cost_factor(1, 3) == pytest.approx(LAST_TO_FULL**2)


def test_a_recipe_runs_before_the_sampler_draws_of_its_depth() -> None:
    arms = [Arm("head", 0, 40), Arm("last_k", 1, 4), Arm("recipe0", 1, 4, limit=1, recipe=True)]
    model = CostModel(arms)
    for _ in range(MIN_TRIALS):
        model.observe("head", seconds=2.0, epochs_run=20, score=0.75)
    assert _names(model)[:2] == ["recipe0", "last_k"]  # same cost, a larger promised gain
    model.observe("recipe0", seconds=60.0, epochs_run=4, score=0.80)
    assert "recipe0" not in _names(model)  # run once


def test_a_good_first_deeper_trial_raises_its_arms_belief() -> None:
    model = CostModel(ARMS)
    for _ in range(MIN_TRIALS):
        model.observe("head", seconds=2.0, epochs_run=20, score=0.75)
    model.observe("last_k", seconds=60.0, epochs_run=4, score=0.82)
    last_k = next(r for r in model.rank() if r.arm.name == "last_k")
    # its own 0.82 (not the prior 0.75 + gain) is the belief's mean: EI over 0.82 is the
    # spread's share alone, which the prior's lower mean would shrink towards 0
    assert last_k.improvement > 0.005
    assert _names(model)[0] == "last_k"


def test_a_recipes_score_speaks_for_its_strategy_and_does_not_hold_deeper_arms_back() -> None:
    arms = [
        Arm("head", 0, 40),
        Arm("last_k", 1, 4),
        Arm("recipe0", 1, 4, limit=1, recipe=True, strategy="last_k"),
        Arm("full", 2, 4),
    ]
    model = CostModel(arms)
    for _ in range(MIN_TRIALS):
        model.observe("head", seconds=2.0, epochs_run=20, score=0.74)
    model.observe("recipe0", seconds=80.0, epochs_run=4, score=0.80)
    ranked = {r.arm.name: r for r in model.rank()}
    # last_k's belief starts from its recipe's 0.80, not from the head's 0.74 + gain
    assert ranked["last_k"].improvement > 0.005
    assert model.next_arm().name == "last_k"
    for _ in range(MIN_TRIALS):
        model.observe("last_k", seconds=80.0, epochs_run=4, score=0.79)
    assert "full" in {r.arm.name for r in model.rank()}  # the recipe's single run does not gate
