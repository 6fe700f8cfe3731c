"""A study that distils from the best model of an earlier study: search over temperature and
alpha, re-check, final retrain on train + validation, export with the distillation recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

from tunesmith.config.finetune import FinetuneConfig  # noqa: E402
from tunesmith.engine.job import JobPlan, run_job  # noqa: E402
from tunesmith.errors import ConfigError  # noqa: E402
from tunesmith.experiment import prepare, run_experiment  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name


def test_student_study_distils_from_an_earlier_studys_best(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunesmith.engine.distill as distill

    paths = write_npz(tiny_workdir, n_train=160, n_eval=60)
    run_experiment(load(experiment("big", paths, study={"n_trials": 2})))
    teacher = tiny_workdir / "runs" / "big" / "best" / "model"
    assert (teacher / "tunesmith_model.json").is_file()

    calls: list[int] = []
    real = distill.compute_teacher_logits

    def counted(path: Path, dataset: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(dataset))
        return real(path, dataset, *args, **kwargs)

    monkeypatch.setattr(distill, "compute_teacher_logits", counted)  # counts the real calls
    space = {
        "distill.temperature": {"type": "float", "low": 1.0, "high": 6.0, "log": True},
        "distill.alpha": {"type": "float", "low": 0.2, "high": 0.9},
    }
    mapping = experiment(
        "small",
        paths,
        space=space,
        study={"n_trials": 3},
        distill={"teacher": "study:big"},
        final={"train_on": "train+validation"},
    )
    study = run_experiment(load(mapping))
    # once on the training split for 3 trials and 2 re-check runs, once on train + validation
    assert calls == [160, 160 + 60]
    final = study.user_attrs["final"]
    assert final["test"]["accuracy"] >= 0.7
    best = tiny_workdir / "runs" / "small" / "best"
    meta = json.loads((best / "model" / "tunesmith_model.json").read_text())
    winner = study.trials[final["best_trial"]].params
    assert meta["distill"]["teacher"] == str(teacher)
    assert meta["distill"]["temperature"] == pytest.approx(winner["distill.temperature"])
    assert meta["distill"]["alpha"] == pytest.approx(winner["distill.alpha"])
    assert "Distilled from" in (best / "MODEL_CARD.md").read_text()
    trial_cfg = (tiny_workdir / "runs/small/trials/00000/config.yaml").read_text()
    assert f"teacher: {teacher}" in trial_cfg  # the trial re-runs from anywhere


def test_default_space_searches_temperature_and_alpha(tiny_workdir: Path) -> None:
    from tunesmith.search.defaults import DISTILL_SPACE, default_space

    assert set(DISTILL_SPACE) <= set(default_space("hf_text", distill=True))
    assert not set(DISTILL_SPACE) & set(default_space("hf_text"))
    paths = write_npz(tiny_workdir, n_train=40, n_eval=20)
    mapping = experiment("d", paths, space="default", distill={"teacher": "teacher"})
    (tiny_workdir / "teacher").mkdir()
    with pytest.raises(ConfigError, match="distill.teacher: .* not an exported tunesmith model"):
        prepare(load(mapping))  # before any storage is opened
    assert not (tiny_workdir / "runs").exists()
    job = FinetuneConfig.model_validate({k: mapping[k] for k in ("model", "data", "train")})
    run_job(job, JobPlan(evaluate_test=False, export_dir=tiny_workdir / "teacher"))
    prepared = prepare(load(mapping))
    assert {"distill.temperature", "distill.alpha"} <= set(prepared.space.names)


def test_a_space_outside_the_distill_ranges_is_refused_before_the_study(
    tiny_workdir: Path,
) -> None:
    paths = write_npz(tiny_workdir, n_train=40, n_eval=20)
    space = {"distill.alpha": {"type": "float", "low": 0.0, "high": 0.5}}
    with pytest.raises(ConfigError, match=r"space.distill.alpha: .*distill.alpha.*got 0"):
        prepare(load(experiment("d", paths, space=space, distill={"teacher": "t"})))
