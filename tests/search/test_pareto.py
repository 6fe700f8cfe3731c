"""The Pareto front and the final.pick rules on constructed trial values (no training)."""

from __future__ import annotations

import pytest

from tunesmith.search.pareto import Member, pareto_front, pick_member

DIRS = ["maximize", "minimize"]
NAMES = ["accuracy", "latency_ms"]
# trial: (accuracy, latency_ms). 4 is dominated by 1; 5 has a NaN and never ranks.
TRIALS = {
    0: (0.95, 10.0),  # most accurate, slowest
    1: (0.93, 4.0),
    2: (0.90, 2.5),
    3: (0.80, 1.0),  # fastest
    4: (0.92, 5.0),
    5: (float("nan"), 0.5),
}
MEMBERS = [Member(n, v) for n, v in TRIALS.items()]


def _pick(rule: str, **kw: float) -> int:
    found = pick_member(MEMBERS, DIRS, NAMES, rule=rule, **kw)  # type: ignore[arg-type]
    assert found is not None
    return found.member.trial


def test_front_leaves_out_dominated_and_non_finite_members() -> None:
    assert [m.trial for m in pareto_front(MEMBERS, DIRS)] == [0, 1, 2, 3]


def test_most_accurate() -> None:
    assert _pick("most_accurate") == 0


@pytest.mark.parametrize(("factor", "trial"), [(1.0, 3), (2.5, 2), (4.0, 1), (9.9, 1), (10, 0)])
def test_most_accurate_within_a_latency_factor_of_the_fastest(factor: float, trial: int) -> None:
    assert _pick("most_accurate_within", factor=factor) == trial


@pytest.mark.parametrize(("tolerance", "trial"), [(0.0, 0), (0.02, 1), (0.05, 2), (0.2, 3)])
def test_cheapest_within_a_tolerance_of_the_best(tolerance: float, trial: int) -> None:
    assert _pick("cheapest_within", tolerance=tolerance) == trial


def test_reason_names_the_rule_the_trial_and_the_limit() -> None:
    found = pick_member(MEMBERS, DIRS, NAMES, rule="most_accurate_within", factor=2.5)
    assert found is not None
    assert found.reason.startswith("most_accurate_within: trial 2 (accuracy 0.9, latency_ms 2.5)")
    assert "latency_ms <= 2.5 x 1 = 2.5" in found.reason and "of 4 on the front" in found.reason


def test_a_minimised_metric_and_a_second_cost() -> None:
    dirs, names = ["minimize", "minimize", "minimize"], ["mse", "latency_ms", "params"]
    members = [
        Member(0, (0.10, 5.0, 900.0)),
        Member(1, (0.12, 1.0, 100.0)),
        Member(2, (0.30, 2.0, 50.0)),
    ]
    assert pick_member(members, dirs, names, rule="most_accurate").member.trial == 0  # type: ignore[union-attr]
    by_params = pick_member(
        members, dirs, names, rule="most_accurate_within", cost="params", factor=2.0
    )
    assert by_params is not None and by_params.member.trial == 1
    cheap = pick_member(members, dirs, names, rule="cheapest_within", cost="params", tolerance=0.05)
    assert cheap is not None and cheap.member.trial == 1


def test_ties_go_to_the_lower_cost_then_the_earlier_trial() -> None:
    members = [Member(3, (0.9, 2.0)), Member(1, (0.9, 2.0)), Member(2, (0.9, 3.0))]
    assert pick_member(members, DIRS, NAMES, rule="most_accurate").member.trial == 1  # type: ignore[union-attr]


def test_nothing_finite_gives_none() -> None:
    assert pick_member([Member(0, (float("nan"), 1.0))], DIRS, NAMES, rule="most_accurate") is None
