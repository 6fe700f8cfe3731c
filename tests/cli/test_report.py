"""``tunesmith report STUDY [--storage URL] --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
import pytest

from tunesmith.cli import report as cli_report
from tunesmith.errors import TunesmithError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tunesmith")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_report.register(sub)
    return parser.parse_args(["report", *argv])


def _make_study(url: str, name: str) -> None:
    study = optuna.create_study(study_name=name, storage=url, direction="minimize")
    for i in range(4):
        t = study.ask()
        x = t.suggest_float("x", -2, 2)
        t.report(x * x + 1, 1)
        if i == 2:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, x * x)


def test_parses_arguments():
    args = _parse("s1", "--storage", "sqlite:///x.db", "--out", "rep")
    assert (args.study, args.storage, args.out) == ("s1", "sqlite:///x.db", Path("rep"))
    assert _parse("s1", "--out", "rep").storage is None
    with pytest.raises(SystemExit):
        _parse("s1")  # --out is required


def test_writes_report_from_explicit_storage(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _make_study(url, "alpha")
    out = tmp_path / "rep"
    assert cli_report.run(_parse("alpha", "--storage", url, "--out", str(out))) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "alpha" in page and 'class="pruned' in page
    assert (out / "history.png").is_file()
    assert str(out / "report.html") in capsys.readouterr().out


def test_default_storage_is_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "beta").mkdir(parents=True)
    _make_study("sqlite:///runs/beta/study.db", "beta")
    assert cli_report.run(_parse("beta", "--out", "out")) == 0
    assert (tmp_path / "out" / "report.html").is_file()


def test_missing_storage_is_an_error_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TunesmithError) as info:
        cli_report.run(_parse("nope", "--out", "out"))
    assert info.value.exit_code == 2 and "nope" in str(info.value)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_unknown_study_names_the_known_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _make_study(url, "alpha")
    with pytest.raises(TunesmithError) as info:
        cli_report.run(_parse("gamma", "--storage", url, "--out", str(tmp_path / "o")))
    assert info.value.exit_code == 2
    assert "gamma" in str(info.value) and "alpha" in str(info.value)


def test_through_the_tunesmith_command(tmp_path, monkeypatch, capsys):
    from tunesmith.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["report", "missing", "--out", "o"]) == 2
    assert "missing" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _make_study(url, "alpha")
    assert main(["report", "alpha", "--storage", url, "--out", "o"]) == 0
    assert (tmp_path / "o" / "report.html").is_file()
