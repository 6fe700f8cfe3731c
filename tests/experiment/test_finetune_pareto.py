"""Fine-tuning studies with several objectives: the validation metric against inference cost."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

__all__ = ["tiny_workdir"]

WIDTHS = {"model.factory_kwargs.width": {"type": "categorical", "choices": [4, 64, 256]}}


def _pareto(paths: dict[str, str], name: str = "pareto", **extra: Any) -> dict[str, Any]:
    study = {
        "n_trials": 6,
        "metric": ["accuracy", "latency_ms", "params"],
        "directions": ["maximize", "minimize", "minimize"],
        **extra.pop("study", {}),
    }
    return experiment(
        name,
        paths,
        study=study,
        space={**WIDTHS, "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 5e-2}},
        **{"recheck": {"seeds": 1}, **extra},
    )


def test_a_multi_objective_search_picks_a_front_member_and_exports_it(tiny_workdir: Path) -> None:
    from tunesmith.experiment import run_experiment
    from tunesmith.reports.summary import summarise, write_summary

    paths = write_npz(tiny_workdir)
    mapping = _pareto(paths, final={"pick": {"rule": "cheapest_within", "tolerance": 0.05}})
    study = run_experiment(load(mapping))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 6
    for t in done:  # each trial measured its cost after training
        assert t.values[1] > 0 and t.values[2] == t.user_attrs["params_trainable"]
        assert t.user_attrs["latency_batch_size"] == 32
    pick = study.user_attrs["pick"]
    front = {t.number for t in study.best_trials}
    assert set(pick["front"]) == front and pick["trial"] in front
    # the rule holds on the recorded values: within 0.05 of the best accuracy, the fewest ms
    acc = {t.number: t.values[0] for t in done if t.number in front}
    ok = [n for n in front if acc[n] >= max(acc.values()) - 0.05 - 1e-12]
    lat = {t.number: t.values[1] for t in done}
    assert pick["trial"] == min(ok, key=lambda n: (lat[n], -acc[n], n))
    recheck = study.user_attrs["recheck"]
    assert [r["trial"] for r in recheck] == [pick["trial"]] and len(recheck[0]["seeds"]) == 2
    final = study.user_attrs["final"]
    assert final["best_trial"] == pick["trial"] and "accuracy" in final["test"]
    assert final["cost"]["params"] == pick["values"]["params"]
    best = json.loads((tiny_workdir / "runs/pareto/best/metrics.json").read_text())
    assert best["pick"]["trial"] == pick["trial"] and best["pick"]["rule"] == "cheapest_within"
    card = (tiny_workdir / "runs/pareto/best/MODEL_CARD.md").read_text()
    assert "Picked from the Pareto front by final.pick cheapest_within" in card
    text = io.StringIO()
    write_summary(summarise(study, "memory"), text, leaderboard=True)
    assert f"picked trial {pick['trial']} by final.pick cheapest_within" in text.getvalue()
    html = (tiny_workdir / "runs/pareto/report/report.html").read_text()
    assert "Pareto front" in html and f"picked: trial {pick['trial']}" in html
