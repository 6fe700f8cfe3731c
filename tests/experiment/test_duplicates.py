"""No configuration evaluated twice by accident: repeated proposals are re-sampled, or run
knowingly as another seed with the record saying so."""

from __future__ import annotations

from collections import Counter

from optuna.trial import TrialState

from tunesmith.experiment import tune

TINY = {  # 6 configurations: TPE soon proposes one it has tried
    "a": {"type": "int", "low": 0, "high": 2},
    "b": {"type": "categorical", "choices": ["u", "v"]},
}


def _objective(calls):
    def objective(params):
        calls.append((params["a"], params["b"]))
        return params["a"] + (params["b"] == "v")

    return objective


def test_tpe_on_a_tiny_space_never_repeats_without_saying_so():
    calls: list[tuple[int, str]] = []
    res = tune(
        _objective(calls),
        TINY,
        sampler={"name": "tpe", "options": {"n_startup_trials": 3}},
        n_trials=12,
        runner="inprocess",
        seed=0,
    )
    trials = res.study.trials
    resampled = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert resampled, "TPE on 6 configurations must propose a repeat within 12 trials"
    for t in resampled:  # never run, recorded as re-sampled duplicates of a held trial
        first = trials[t.user_attrs["duplicate_of"]]
        assert t.state == TrialState.FAIL and first.params == t.params
        assert "re-sampled" in t.user_attrs["fail_reason"]
    ran = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(ran) == 12 and all(t.state == TrialState.COMPLETE for t in ran)
    assert len(calls) == 12
    # Every configuration that ran twice or more is a knowing repeat of the first one.
    seen: dict[tuple[int, str], int] = {}
    for t in ran:
        key = (t.params["a"], t.params["b"])
        if key in seen:
            assert t.user_attrs["repeat_of"] == seen[key]
        else:
            assert "repeat_of" not in t.user_attrs
            seen[key] = t.number
    assert len(seen) == 6  # the whole space was covered before anything ran twice
    counts = Counter(calls)
    assert sum(counts.values()) - len(counts) == sum("repeat_of" in t.user_attrs for t in ran)


def test_repeat_of_a_self_seeding_objective_gets_its_own_seed():
    calls: list[dict] = []

    class Seeded:
        seeds_itself = True

        def __call__(self, params):
            calls.append(dict(params))
            return float(params["a"])

    res = tune(
        Seeded(),
        {"a": {"type": "int", "low": 0, "high": 1}},
        sampler="random",
        n_trials=4,
        runner="inprocess",
        seed=0,
    )
    repeats = [t for t in res.study.trials if "repeat_of" in t.user_attrs]
    assert repeats  # two configurations, four trials
    seeds = {c["seed"] for c in calls if "seed" in c}
    assert seeds == {t.user_attrs["repeat_seed"] for t in repeats}
    assert sum("seed" in c for c in calls) == len(repeats)
