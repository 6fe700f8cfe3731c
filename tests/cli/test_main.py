"""The CLI: exit codes, nothing written on bad input, trials/best output, fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tunesmith.cli.main import main

OBJECTIVES = """
import math

def quad(params):
    return -(params["x"] - 0.5) ** 2

def broken(params):
    raise ValueError(f"broken at x={params['x']:.3f}")
"""

CONFIG = """
study:
  name: clitest
  sampler: {name: random, seed: 0}
  n_trials: 5
  runner: inprocess
objective: cli_objs:quad
space:
  x: {type: float, low: 0.0, high: 1.0}
"""


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cli_objs.py").write_text(OBJECTIVES)
    (tmp_path / "exp.yaml").write_text(CONFIG)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("study.sampler=tpx", "unknown sampler 'tpx'; known: auto"),
        ("study.pruner=nope", "unknown pruner 'nope'"),
        ("study.n_trails=3", "did you mean 'n_trials'"),
        ("objective=no_such_module:f", "objective: cannot import module 'no_such_module'"),
        ("objective=cli_objs:missing", "has no attribute 'missing'"),
        ("space.x.low=3", "low must be < high"),
        ("study.name=.hidden", "study.name"),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(project, capsys, override, message):
    code = main(["tune", "exp.yaml", "--set", override])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert not (project / "runs").exists()
    assert not list(project.rglob("*.db"))


def test_tune_then_trials_and_best(project, capsys):
    assert main(["tune", "exp.yaml", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5 complete" in out and (project / "runs/clitest/study.db").is_file()
    assert main(["trials", "clitest", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and all(r["state"] == "COMPLETE" for r in rows)
    assert main(["best", "clitest", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["values"][0] == max(r["value"] for r in rows)
    assert main(["trials", "clitest", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 6
    # resume with a larger budget through the flags
    assert main(["tune", "exp.yaml", "--n-trials", "7", "--no-progress"]) == 0
    assert "7 complete" in capsys.readouterr().out


def test_missing_study_is_exit_2(project, capsys):
    assert main(["trials", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert main(["best", "nope", "--storage", f"sqlite:///{project}/x.db"]) == 2
    assert not (project / "x.db").exists() and not (project / "runs").exists()


def test_repeated_failures_exit_3_with_first_error(project, capsys):
    code = main(["tune", "exp.yaml", "--set", "objective=cli_objs:broken", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert "10 trials failed in a row" in err
    first = err.split("the first error was: ")[1]
    assert first.startswith("trial 0: ValueError: broken at x=")


def test_plain_progress_lines_when_not_a_tty(project, capsys):
    assert main(["tune", "exp.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.count("trial ") >= 5 and "5/5 done" in out and "stopped: n_trials" in out


def test_help_is_fast_and_imports_nothing_heavy():
    code = textwrap.dedent(
        """
        import sys
        from tunesmith.cli.main import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("optuna", "torch", "sklearn", "ray", "pandas") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "tune" in out.stdout and "trials" in out.stdout
    assert "HEAVY []" in out.stdout
