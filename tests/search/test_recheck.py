import math

import pytest

from tunesmith.search.recheck import Candidate, RecheckRow, extra_seeds, rank, top_k


def test_top_k_orders_by_direction_and_dedups_params():
    cands = [
        Candidate(0, {"lr": 1}, 0.5, 0),
        Candidate(1, {"lr": 2}, 0.9, 0),
        Candidate(2, {"lr": 1}, 0.7, 0),  # same params as trial 0, better score
        Candidate(3, {"lr": 3}, math.nan, 0),
        Candidate(4, {"lr": 4}, 0.1, 0),
    ]
    best = top_k(cands, 2, maximize=True)
    assert [c.trial for c in best] == [1, 2]
    worst_first = top_k(cands, 2, maximize=False)
    assert [c.trial for c in worst_first] == [4, 0]
    with pytest.raises(ValueError):
        top_k(cands, 0, maximize=True)


def test_extra_seeds_are_distinct_and_deterministic():
    seeds = extra_seeds(7, 3)
    assert seeds == extra_seeds(7, 3)
    assert len(set(seeds)) == 3 and 7 not in seeds
    assert set(extra_seeds(7, 2, used=[seeds[0]])).isdisjoint({seeds[0], 7})


def test_rank_picks_best_mean_not_best_single_run():
    lucky = RecheckRow(trial=1, params={"lr": 1}, seeds=[0, 1, 2], scores=[0.95, 0.60, 0.62])
    steady = RecheckRow(trial=2, params={"lr": 2}, seeds=[0, 1, 2], scores=[0.80, 0.79, 0.81])
    ordered = rank([lucky, steady], maximize=True)
    assert ordered[0] is steady and steady.winner and not lucky.winner
    assert steady.as_dict()["mean"] == pytest.approx(0.80)
    assert lucky.std > steady.std
    # Minimisation flips the order.
    assert rank([lucky, steady], maximize=False)[0] is lucky
