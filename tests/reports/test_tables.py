"""HTML tables: order, escaping and the re-check / final records."""

from __future__ import annotations

import optuna

from tunesmith.reports import tables as T
from tunesmith.reports.data import collect


def test_leaderboard_order_minimize(build_study):
    study = build_study(direction="minimize", with_attrs=False)
    order = T.leaderboard_order(collect(study))
    complete = [t for t in order if t.state.name == "COMPLETE"]
    assert [t.value for t in complete] == sorted(t.value for t in complete)
    assert [t.state.name for t in order[len(complete) :]] == ["PRUNED", "PRUNED", "RUNNING", "FAIL"]


def test_table_escapes_headers_and_keeps_cells():
    html = T.table(["<h>"], [T.Row(["<b>ok</b>"], css='a"b')])
    assert "<th>&lt;h&gt;</th>" in html
    assert "<td><b>ok</b></td>" in html
    assert 'class="a&quot;b"' in html


def test_params_cell_escapes_names_and_values():
    cell = T.params_cell({"<x>": "<y>", "lr": 0.000123456789})
    assert "&lt;x&gt;" in cell and "&lt;y&gt;" in cell and "<x>" not in cell
    assert "0.000123457" in cell


def test_recheck_absent_malformed_and_escaped():
    assert "did not run" in T.recheck({})
    assert "not a list" in T.recheck({"recheck": "<oops>"})
    assert "&lt;oops&gt;" in T.recheck({"recheck": "<oops>"})
    html = T.recheck(
        {
            "recheck": [
                {
                    "trial": 4,
                    "params": {"a": "<i>"},
                    "seeds": [1, 2],
                    "scores": [0.5, 0.7],
                    "mean": 0.6,
                    "std": 0.1,
                    "winner": False,
                },
                "garbage <entry>",
            ]
        }
    )
    assert "<td>4</td>" in html and "&lt;i&gt;" in html and "&lt;entry&gt;" in html
    assert "1:&nbsp;0.5, 2:&nbsp;0.7" in html
    assert "winner" not in html.split("</thead>")[1]


def test_final_absent_and_shown_apart():
    assert "did not run" in T.final({})
    html = T.final(
        {
            "final": {
                "metric": "f1",
                "validation": {"f1": 0.9},
                "test": {"f1": 0.8},
                "retrained_on_train_val": False,
                "best_trial": 7,
            }
        }
    )
    val, test = html.split("<h3>Validation</h3>")[1].split("<h3>Test")
    assert "0.9" in val and "0.8" not in val and "0.8" in test
    assert "train + validation: no" in html and "<strong>7</strong>" in html
    assert "not recorded" in T.final({"final": {"metric": "f1", "validation": {"f1": 0.9}}})


def test_summary_counts_and_best(shared_study):
    html = T.summary(collect(shared_study))
    assert "Trials: 13 (complete: 9," in html and "pruned: 2" in html and "fail: 1" in html
    assert f"(trial {shared_study.best_trial.number})" in html


def test_summary_without_trials():
    assert "no trials" in T.summary(collect(optuna.create_study()))


def test_summary_names_the_metric_and_shows_the_final_test_score(shared_study):
    html = T.summary(collect(shared_study), shared_study.user_attrs["final"])
    assert "Best accuracy: <strong>" in html
    assert "Final test accuracy: <strong>0.7654</strong>" in html and "scored once" in html
    assert "Final test" not in T.summary(collect(shared_study))  # no final record: no line


def test_a_fine_tuning_objective_is_named_validation_metric():
    study = optuna.create_study(direction="maximize")
    study.set_metric_names(["accuracy"])
    for v in (0.5, 0.7):
        trial = study.ask()
        trial.set_user_attr("val_accuracy", v)
        study.tell(trial, v)
    data = collect(study)
    assert data.metric_names == ("validation accuracy",)
    assert "Best validation accuracy" in T.summary(data)
    plain = optuna.create_study(direction="minimize")
    plain.set_metric_names(["loss"])
    plain.tell(plain.ask(), 1.0)
    assert collect(plain).metric_names == ("loss",)


def test_a_tuned_study_keeps_its_metric_name_for_the_report():
    from tunesmith.experiment import tune

    result = tune(
        lambda p: {"score": p["x"], "other": 1.0},
        {"x": {"type": "float", "low": 0, "high": 1}},
        n_trials=2,
        metric="score",
        runner="inprocess",
    )
    assert collect(result.study).metric_names == ("score",)
