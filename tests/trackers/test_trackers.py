"""``study.log_to: [mlflow, tensorboard]``: read back what a real study logged (MLflow's client on
the local store, TensorBoard's EventAccumulator on the event files), and a tracker that is down."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

import tunesmith
from tunesmith.errors import ConfigError
from tunesmith.experiment.duplicates import is_duplicate

OBJECTIVE = '''
def curve(params, reporter):
    """Reports a loss per epoch; width 99 fails (to see the fail reason in the trackers)."""
    if params["width"] == 99:
        raise ValueError("width 99 is not allowed")
    loss = 1.0
    for epoch in range(4):
        loss = params["lr"] + 1.0 / (epoch + 2)
        if reporter.report(epoch, loss):
            break
    return {"loss": loss, "accuracy": 1 - loss}
'''


def _config(name: str, **study) -> dict:
    return {
        "study": {
            "name": name,
            "direction": "minimize",
            "metric": "loss",
            "runner": "inprocess",
            "n_trials": 6,
            "sampler": {"name": "random", "seed": 1},
            "pruner": {"name": "median", "options": {"n_startup_trials": 1}},
            **study,
        },
        "objective": "flaky_objective:curve",
        "space": {
            "lr": {"type": "float", "low": 0.0, "high": 1.0},
            "width": {"type": "categorical", "choices": [8, 99]},
        },
    }


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "flaky_objective.py").write_text(OBJECTIVE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mlflow_and_tensorboard_record_the_study(workdir: Path) -> None:
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = tunesmith.run(_config("tracked", log_to=["mlflow", "tensorboard"]))
    trials = {t.number: t for t in result.study.trials}
    states = {t.state for t in trials.values()}
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= states

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/runs/tracked/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("tunesmith.role") == "study"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.params["n_trials"] == "6"
    assert parent.data.params["pruner.name"] == "median"
    assert parent.data.params["sampler.seed"] == "1"
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["tunesmith.stop_reason"] == "n_trials"

    children = {int(r.data.tags["tunesmith.trial"]): r for r in runs if r is not parent}
    assert sorted(children) == sorted(trials)
    for number, run in children.items():
        trial = trials[number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["tunesmith.state"] == trial.state.name
        assert float(run.data.params["lr"]) == pytest.approx(trial.params["lr"])
        assert run.data.params["width"] == str(trial.params["width"])
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == sorted(
            (step, pytest.approx(v)) for step, v in trial.intermediate_values.items()
        )
        if trial.state == TrialState.FAIL:
            assert run.info.status == "FAILED"
            assert "width 99 is not allowed" in run.data.tags["tunesmith.fail_reason"]
        else:
            assert run.data.metrics["final.loss"] == pytest.approx(trial.value)
            expected = "FINISHED" if trial.state == TrialState.COMPLETE else "KILLED"
            assert run.info.status == expected

    root = workdir / "runs" / "tracked" / "tensorboard"
    assert sorted(p.name for p in root.iterdir()) == [f"trial-{n:04d}" for n in sorted(trials)]
    for number, trial in trials.items():
        acc = EventAccumulator(str(root / f"trial-{number:04d}"))
        acc.Reload()
        scalars = acc.Tags()["scalars"]
        if trial.intermediate_values:
            events = acc.Scalars("loss")
            assert {e.step: pytest.approx(e.value) for e in events} == trial.intermediate_values
        if trial.state != TrialState.FAIL:
            assert acc.Scalars("final/loss")[-1].value == pytest.approx(trial.value)
        else:
            assert "final/loss" not in scalars
        hparams = acc.PluginTagToContent("hparams")
        assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
        assert b"width" in hparams["_hparams_/session_start_info"]


def test_resumed_study_keeps_one_parent_run(workdir: Path) -> None:
    from mlflow.tracking import MlflowClient

    storage = f"sqlite:///{workdir}/resume.db"
    tunesmith.run(_config("again", log_to=["mlflow"], storage=storage, n_trials=2))
    result = tunesmith.run(_config("again", log_to=["mlflow"], storage=storage, n_trials=4))
    ran = [t for t in result.study.trials if not is_duplicate(t)]  # re-sampled ones never ran
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/runs/again/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("again")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("tunesmith.role") == "study"]
    assert len(parents) == 1
    assert len(runs) - 1 == len(ran) >= 4  # every trial that ran, each a child of that parent
    assert all(
        r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        for r in runs
        if r is not parents[0]
    )


def test_a_tracker_that_is_down_costs_a_warning_not_a_trial(workdir: Path, caplog) -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    with caplog.at_level(logging.WARNING, logger="tunesmith.trackers"):
        result = tunesmith.run(_config("down", log_to=["mlflow"], mlflow_uri=down))
    done = [t for t in result.study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 6  # the whole budget ran
    assert all(t.state != TrialState.RUNNING for t in result.study.trials)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("mlflow logging is off for this run" in w for w in warnings), warnings


def test_tracker_settings_are_checked(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="study.*mlflow_uri.*log_to has no mlflow"):
        tunesmith.run(_config("bad", mlflow_uri="http://127.0.0.1:5000"))
    with pytest.raises(ConfigError, match="log_to lists a tracker twice"):
        tunesmith.run(_config("bad", log_to=["mlflow", "mlflow"]))
    with pytest.raises(ConfigError, match="study.log_to"):
        tunesmith.run(_config("bad", log_to=["wandb"]))
    assert not (workdir / "runs").exists()


def test_missing_tracker_package_names_the_install_command(workdir: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["mlflow"] = None  # as if it were not installed
        sys.path.insert(0, ".")
        import tunesmith
        from tunesmith.errors import MissingDependencyError
        from tunesmith.config.loader import validate
        cfg = {cfg!r}
        try:
            tunesmith.run(cfg)
        except MissingDependencyError as exc:
            print("ERROR", exc)
        """
    ).format(cfg=_config("nomlflow", log_to=["mlflow"]))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert "pip install 'tunesmith[mlflow]'" in out.stdout, out.stderr
    assert not (workdir / "runs").exists()  # nothing written
