"""A fine-tuning space that searches ``train.epochs``: one schedule horizon for every trial, and a
trial a finished longer one covers is answered from its reports (tiny MLP, in-process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

from tunesmith.errors import ConfigError  # noqa: E402
from tunesmith.experiment import prepare, run_experiment  # noqa: E402
from tunesmith.experiment.fidelity import FIDELITY_OF  # noqa: E402
from tunesmith.experiment.finetune.objective import validate_job, with_horizon  # noqa: E402
from tunesmith.experiment.finetune.phases import run_final  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

COSINE = {"schedule": {"name": "cosine"}}


def _config(name: str, paths: dict[str, str], epochs: dict[str, Any], **kw: Any) -> Any:
    train = {**COSINE, **kw.pop("train", {})}
    return load(experiment(name, paths, space={"train.epochs": epochs}, train=train, **kw))


def _trial_config(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "config.yaml").read_text())["train"]


def test_a_searched_epoch_count_shares_one_schedule_and_one_run(tiny_workdir: Path) -> None:
    paths = write_npz(tiny_workdir)
    config = _config("ep", paths, {"type": "categorical", "choices": [2, 4]},
                     study={"n_trials": 2})  # fmt: skip
    (tiny_workdir / "runs/ep").mkdir(parents=True)
    url = config.study.storage_url()
    queued = optuna.create_study(study_name="ep", storage=url, direction="maximize")
    for epochs in (4, 2):  # the longer run first: the shorter one is its start
        queued.enqueue_trial({"train.epochs": epochs})
    prepared = prepare(config)
    study = run_experiment(config)
    assert study.user_attrs["epochs_fidelity"] == {
        "param": "train.epochs", "largest": 4, "horizon_epochs": 4, "shared": True,
        "why_not": None,
    }  # fmt: skip
    longer, answered = study.trials
    trials = tiny_workdir / "runs/ep/trials"
    assert _trial_config(trials / "00000")["schedule"]["horizon_epochs"] == 4
    assert not (trials / "00001").exists()  # answered, never trained
    assert answered.user_attrs[FIDELITY_OF] == 0
    first_two = [longer.intermediate_values[s] for s in (1, 2)]
    assert answered.value == max(first_two)
    assert answered.user_attrs["best_epoch"] == 1 + first_two.index(max(first_two))
    for folder in (tiny_workdir / "runs/ep/recheck").iterdir():  # the re-check keeps the horizon
        assert _trial_config(folder)["schedule"]["horizon_epochs"] == 4

    # The final run of an answered winner trains its best epoch count over the search's
    # horizon: the weights it evaluated, so the same validation score.
    run_dir = tiny_workdir / "runs/ep"
    record = run_final(study, prepared.study, prepared.space, prepared.objective,
                       params=answered.params, trial=1, run_dir=run_dir)  # fmt: skip
    best = answered.user_attrs["best_epoch"]
    assert record["final_epochs"] == best and record["reused_search_weights"] is False
    assert record["validation"]["accuracy"] == pytest.approx(answered.value, abs=1e-12)
    ran = [
        f for f in (tiny_workdir / "runs/ep/final").iterdir() if _trial_config(f)["epochs"] == best
    ]
    assert ran and _trial_config(ran[-1])["schedule"]["horizon_epochs"] == 4


@pytest.mark.parametrize(
    ("epochs", "horizon"),
    [
        ({"type": "int", "low": 1, "high": 5, "step": 2}, 5),
        ({"type": "categorical", "choices": [3, 6, 2]}, 6),
        ({"type": "fixed", "value": 3}, None),  # not searched: nothing changes
    ],
)
def test_the_horizon_is_the_largest_epoch_count_the_space_allows(
    tiny_workdir: Path, epochs: dict[str, Any], horizon: int | None
) -> None:
    objective = prepare(_config("h", write_npz(tiny_workdir), epochs)).objective
    assert objective.horizon_epochs == horizon


def test_sharing_is_off_where_reports_are_not_one_per_epoch(tiny_workdir: Path) -> None:
    from tunesmith.experiment.finetune.epochs import plan_epochs

    config = _config("s", write_npz(tiny_workdir), {"type": "int", "low": 1, "high": 3},
                     train={"eval_every_steps": 2})  # fmt: skip
    prepared = prepare(config)
    plan = plan_epochs(config, prepared.space, prepared.objective.base)
    assert plan is not None and plan.horizon == 3 and not plan.share
    assert "eval_every_steps" in (plan.why_not or "") and "not shared" in plan.line()


def test_a_given_horizon_below_the_largest_epoch_count_is_refused(tiny_workdir: Path) -> None:
    train = {"schedule": {"name": "cosine", "horizon_epochs": 3}}
    config = _config("g", write_npz(tiny_workdir), {"type": "int", "low": 1, "high": 4},
                     train=train)  # fmt: skip
    with pytest.raises(ConfigError) as info:
        prepare(config)
    message = str(info.value)
    assert "train.schedule.horizon_epochs must be >= the largest train.epochs" in message
    assert "(4)" in message and "got 3" in message


def test_a_schedule_that_ignores_the_run_length_gets_no_horizon(tiny_workdir: Path) -> None:
    base = prepare(_config("c", write_npz(tiny_workdir), {"type": "int", "low": 1, "high": 4}))
    mapping = {**base.objective.base, "train": {**base.objective.base["train"], "epochs": 2}}
    constant = {**mapping, "train": {**mapping["train"], "schedule": {"name": "constant"}}}
    job = validate_job(constant, "test")
    assert with_horizon(constant, job, 4) is job
    cosine = with_horizon(mapping, validate_job(mapping, "test"), 4)
    assert cosine.train.schedule.horizon_epochs == 4 and cosine.train.epochs == 2


def test_an_answered_trials_validation_metrics_are_its_source_epochs(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tunesmith.experiment.finetune.epochs import answered_val_metrics

    folder = tmp_path / "00003"
    folder.mkdir()
    lines = [{"epoch": 0, "step": 5, "accuracy": 0.6, "f1_macro": 0.5, "lr": 0.1},
             {"epoch": 1, "step": 10, "accuracy": 0.7, "f1_macro": 0.65, "lr": 0.1}]  # fmt: skip
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    trial = SimpleNamespace(value=0.7, user_attrs={FIDELITY_OF: 3, "best_epoch": 2})
    got = answered_val_metrics(str(tmp_path), trial, "accuracy")
    assert got == {"accuracy": 0.7, "f1_macro": 0.65}
    gone = SimpleNamespace(value=0.7, user_attrs={FIDELITY_OF: 9, "best_epoch": 2})
    assert answered_val_metrics(str(tmp_path), gone, "accuracy") == {"accuracy": 0.7}
