"""The records the report is drawn from."""

from __future__ import annotations

import optuna
import pytest

from tunesmith.reports import data as D


def _told(direction: str, values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for v in values:
        t = study.ask()
        t.suggest_float("x", 0, 1)
        study.tell(t, v)
    return study


@pytest.mark.parametrize(
    ("direction", "best"),
    [("minimize", [3.0, 1.0, 1.0, 0.5]), ("maximize", [3.0, 3.0, 4.0, 4.0])],
)
def test_history_best_so_far_follows_direction(direction, best):
    data = D.collect(_told(direction, [3.0, 1.0, 4.0, 0.5]))
    numbers, values, running = D.history(data)
    assert numbers == [0, 1, 2, 3]
    assert values == [3.0, 1.0, 4.0, 0.5]
    assert running == best


def test_collect_states_params_and_names(shared_study):
    data = D.collect(shared_study)
    assert data.param_names == ("freeze_k", "lr", "momentum", "optimizer")
    assert [t.number for t in data.trials_in("PRUNED")] == [5, 7]
    assert [t.number for t in data.trials_in("FAIL")] == [3]
    assert all(t.state.name == "COMPLETE" for t in data.complete)
    # no metric names stored: the fine-tuning record's metric names the objective
    assert data.metric_names == ("accuracy",) and not data.multi


def test_curves_keep_pruned_and_running_trials(shared_study):
    curves = {c.number: c for c in D.curves(D.collect(shared_study))}
    assert curves[5].state == "PRUNED" and curves[5].steps == (1, 2)
    assert curves[0].steps == (1, 2, 3, 4, 5)
    assert 3 not in curves  # the failed trial reported nothing
    running = [c for c in curves.values() if c.state == "RUNNING"]
    assert len(running) == 1 and running[0].values == (0.1,)


def test_fail_reason_and_best_epoch(shared_study):
    trials = {t.number: t for t in shared_study.trials}
    assert D.fail_reason(trials[3]) == "CUDA out of memory <boom>"
    assert D.fail_reason(trials[0]) == ""
    assert D.best_epoch(trials[0]) == 4 and D.best_epoch(trials[1]) == 5
    assert D.best_epoch(trials[5]) is None


def test_pareto_ranks_peel_fronts():
    study = optuna.create_study(directions=["maximize", "minimize"])
    # (accuracy, latency): 0 and 1 are on the front, 2 is dominated by 1, 3 by everything
    for values in ([0.9, 10.0], [0.8, 5.0], [0.7, 6.0], [0.5, 20.0]):
        study.tell(study.ask(), values)
    ranks = D.pareto_ranks(D.collect(study))
    assert ranks == {0: 0, 1: 0, 2: 1, 3: 2}
    assert {n for n, r in ranks.items() if r == 0} == {t.number for t in study.best_trials}


def test_importances_are_seeded_and_note_conditional_params(shared_study):
    data = D.collect(shared_study)
    first = D.importances(shared_study, data)
    second = D.importances(shared_study, data)
    assert first.values == second.values
    assert set(first.values) == {"freeze_k", "lr", "optimizer"}
    assert abs(sum(first.values.values()) - 1.0) < 1e-9
    assert "momentum" in first.note


def test_importances_too_few_trials():
    study = _told("minimize", [1.0, 2.0])
    imp = D.importances(study, D.collect(study))
    assert imp.values == {} and "at least" in imp.note


def test_numeric_axis_encodes_categories_and_missing(shared_study):
    data = D.collect(shared_study)
    values, cats, log = D.numeric_axis(data, "optimizer")
    assert cats is not None and "adamw" in cats and not log
    assert {int(v) for v in values if v is not None} <= set(range(len(cats)))
    values, cats, log = D.numeric_axis(data, "lr")
    assert cats is None and log
    values, _, _ = D.numeric_axis(data, "momentum")
    assert None in values  # conditional: absent from some trials
