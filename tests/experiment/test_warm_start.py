"""Warm starts for every objective kind (issue 14): where the earlier study is found, what is
copied, that copies do not use up ``n_trials``, and that a recipe keeps every key it sets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

from tunesmith.config.experiment import ExperimentConfig  # noqa: E402
from tunesmith.errors import ConfigError  # noqa: E402
from tunesmith.experiment import kinds, tune  # noqa: E402
from tunesmith.experiment.duplicates import is_duplicate  # noqa: E402
from tunesmith.experiment.finetune.pipeline import warm_start  # noqa: E402
from tunesmith.storage.study import (  # noqa: E402
    RUN_OVERRIDES,
    WARM_START_FROM,
    add_finished_trial,
    load_existing_study,
    open_study,
)

__all__ = ["tiny_workdir"]

X = {"type": "float", "low": 0.0, "high": 1.0}


def quadratic(params: dict[str, Any]) -> float:
    return -((params["x"] - 0.3) ** 2)


def _python_config(name: str, n_trials: int, **extra: Any) -> ExperimentConfig:
    return load(  # type: ignore[no-any-return]
        {
            "study": {
                "name": name,
                "n_trials": n_trials,
                "runner": "inprocess",
                "sampler": {"name": "random", "seed": 1},
            },
            "space": {"x": X},
            "objective": "test_warm_start:quadratic",
            **extra,
        }
    )


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(config: ExperimentConfig) -> optuna.Study:
    return kinds.run(kinds.prepare(config))


def test_python_objective_finds_the_earlier_study_in_its_own_default_storage(
    workdir: Path,
) -> None:
    _run(_python_config("old", 4))  # runs/old/study.db
    new = _run(_python_config("new", 3, warm_start={"study": "old"}))
    assert (workdir / "runs" / "new" / "study.db").is_file()
    copies = [t for t in new.trials if WARM_START_FROM in t.user_attrs]
    old = load_existing_study("old", "sqlite:///runs/old/study.db")
    assert sorted(t.user_attrs[WARM_START_FROM] for t in copies) == [f"old#{i}" for i in range(4)]
    assert sorted(t.value for t in copies) == sorted(t.value for t in old.trials)
    # n_trials counts what this study evaluated: 3 new trials beside the 4 copies (the same
    # seed proposes the old study's points again: those are re-sampled, recorded as duplicates)
    evaluated = [
        t for t in new.trials if WARM_START_FROM not in t.user_attrs and not is_duplicate(t)
    ]
    assert len(evaluated) == 3 and all(t.state == TrialState.COMPLETE for t in evaluated)
    again = _run(_python_config("new", 3, warm_start={"study": "old"}))  # resumed: copies once
    assert sum(not is_duplicate(t) for t in again.trials) == 7


def test_sklearn_objective_warm_starts_from_a_given_storage(workdir: Path) -> None:
    url = f"sqlite:///{workdir}/shared.db"
    earlier = open_study("svc-old", url, ["maximize"])
    dist = optuna.distributions.FloatDistribution(0.1, 10, log=True)
    add_finished_trial(earlier, {"C": 1.0}, {"C": dist}, 0.95)
    add_finished_trial(
        earlier, {"C": 50.0}, {"C": optuna.distributions.FloatDistribution(1, 99, log=True)}, 0.9
    )
    config = ExperimentConfig.model_validate(
        {
            "study": {"name": "svc", "n_trials": 2, "runner": "inprocess", "sampler": "random"},
            "space": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}},
            "sklearn": {"estimator": "sklearn.svm:SVC", "dataset": "iris", "cv": 3},
            "warm_start": {"study": "svc-old", "storage": url},
        }
    )
    study = _run(config)
    copies = [t for t in study.trials if WARM_START_FROM in t.user_attrs]
    assert [(t.params, t.value) for t in copies] == [({"C": 1.0}, 0.95)]  # C=50 is off the space
    assert sum(WARM_START_FROM not in t.user_attrs for t in study.trials) == 2


def test_a_missing_earlier_study_is_refused_at_prepare_naming_where_it_looked(
    workdir: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"warm_start.study: no study 'gone'.*runs/gone/study.db"):
        kinds.prepare(_python_config("new", 3, warm_start={"study": "gone"}))
    assert not (workdir / "runs").exists()
    with pytest.raises(ConfigError, match="recipes"):
        _python_config("new", 3, warm_start="recipes")
    with pytest.raises(ConfigError, match="warm_start adds nothing"):
        _python_config("new", 3, warm_start={})


def test_tune_does_not_count_copied_trials_but_counts_its_own_earlier_ones(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study = open_study("s", url, ["maximize"])
    dists = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    for i, x in enumerate((0.1, 0.5, 0.9)):
        add_finished_trial(study, {"x": x}, dists, quadratic({"x": x}), {WARM_START_FROM: f"o#{i}"})
    tune(quadratic, {"x": X}, n_trials=3, storage=url, study_name="s", runner="inprocess")
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert len(trials) == 6
    # A resumed run of the same study counts its own earlier trials: nothing left to run.
    tune(quadratic, {"x": X}, n_trials=3, storage=url, study_name="s", runner="inprocess")
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 6
    tune(quadratic, {"x": X}, n_trials=4, storage=url, study_name="s", runner="inprocess")
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 7


def test_finetune_warm_start_finds_the_study_in_its_default_storage(tiny_workdir: Path) -> None:
    paths = write_npz(tiny_workdir)
    lr = {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}
    old = open_study("tiny-old", "sqlite:///runs/tiny-old/study.db", ["maximize"])
    dist = optuna.distributions.FloatDistribution(1e-3, 5e-2, log=True)
    add_finished_trial(old, {"train.optimizer.lr": 0.01}, {"train.optimizer.lr": dist}, 0.8)
    cfg = load(
        experiment(
            "tiny-new", paths, space={"train.optimizer.lr": lr}, warm_start={"study": "tiny-old"}
        )
    )
    prepared = kinds.prepare(cfg)
    study = optuna.create_study(direction="maximize")
    assert warm_start(cfg, prepared.space, study) == 1
    assert study.trials[0].user_attrs[WARM_START_FROM] == "tiny-old#0"


def test_a_cnn_recipe_keeps_nesterov_through_search_and_final(tiny_workdir: Path) -> None:
    """The CNN recipe sets train.optimizer.nesterov, which the space lacks: the recipe trial and
    the final run still train with Nesterov momentum (its config says so)."""
    paths = write_npz(tiny_workdir)
    lr = {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}
    mapping = experiment(
        "recipe",
        paths,
        space={"train.optimizer.lr": lr},
        study={"n_trials": 1},
        warm_start={"recipes": True, "max_recipes": 1},
        recheck={"top_k": 1, "seeds": 1},
    )
    cfg = load(mapping)
    study = kinds.run(kinds.prepare(cfg))
    (trial,) = study.trials
    assert trial.params == {"train.optimizer.lr": 0.01}
    assert trial.user_attrs[RUN_OVERRIDES]["train.optimizer.nesterov"] is True
    for folder in ("trials/00000", "recheck/00000", "final/00000"):
        ran = yaml.safe_load(
            (tiny_workdir / "runs" / "recipe" / folder / "config.yaml").read_text()
        )
        opt = ran["train"]["optimizer"]
        assert (opt["name"], opt["nesterov"], opt["momentum"]) == ("sgd", True, 0.9), folder
