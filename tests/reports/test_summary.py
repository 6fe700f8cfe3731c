"""The one summary of a finished study: TuneResult for Python, text for the terminal."""

from __future__ import annotations

import io

import optuna

from tunesmith.reports.summary import summarise, write_summary


def _study(directions: list[str]) -> optuna.Study:
    study = optuna.create_study(directions=directions, study_name="s")  # in memory, test only
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for x in (0.2, 0.9, 0.5):
        values = [x] if len(directions) == 1 else [x, 1 - x]
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x}, distributions=dist, values=values, user_attrs={"best_epoch": 2.0}
            )
        )
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.1}, distributions=dist, state=optuna.trial.TrialState.PRUNED
        )
    )
    return study


def test_single_objective_summary_and_leaderboard() -> None:
    result = summarise(_study(["maximize"]), "sqlite:///runs/s/study.db")
    assert result.best_value == 0.9 and result.best_params == {"x": 0.9}
    assert len(result.trials) == 4 and result.study_name == "s"
    out = io.StringIO()
    write_summary(result, out)
    text = out.getvalue()
    assert text.startswith("study 's': 3 complete, 1 pruned, 0 failed (storage sqlite:///runs/")
    assert "best trial 1: value 0.9\n  x = 0.9\n" in text and "Leaderboard" not in text
    out = io.StringIO()
    write_summary(result, out, leaderboard=True)
    rows = out.getvalue().split("Leaderboard (top 3 of 3 complete trials)\n")[1].splitlines()
    assert [r.split()[1] for r in rows[1:4]] == ["1", "2", "0"]  # trials, best first
    assert rows[1].split()[3] == "2"  # the best epoch, whole


def test_multi_objective_summary_shows_the_front() -> None:
    result = summarise(_study(["maximize", "maximize"]), "memory")
    assert result.best_params is None and result.best_value is None
    assert len(result.best_trials) == 3
    out = io.StringIO()
    write_summary(result, out)
    assert "Pareto front: 3 trials" in out.getvalue()
