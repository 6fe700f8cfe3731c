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


def _error(mapping: dict[str, Any]) -> str:
    """The ConfigError that preparing ``mapping`` raises (nothing is written)."""
    from tunesmith.errors import ConfigError
    from tunesmith.experiment.kinds import prepare

    with pytest.raises(ConfigError) as info:
        prepare(load(mapping))
    return str(info.value)


@pytest.mark.parametrize(
    ("study", "final", "recheck", "message"),
    [
        ({"metric": ["latency_ms", "accuracy"], "directions": ["minimize", "maximize"]}, None,
         None,
         "study.metric: rule: the first objective of a fine-tuning study is its validation "
         "metric train.metric ('accuracy')"),
        ({"metric": ["accuracy", "f1"], "directions": ["maximize", "maximize"]}, None, None,
         "after 'accuracy' come cost objectives, each once, from ['latency_ms', 'params']"),
        ({"metric": ["accuracy", "latency_ms"], "directions": ["maximize", "maximize"]}, None,
         None, "study.directions[1]: rule: cost 'latency_ms' is minimised; got 'maximize'"),
        ({"metric": ["accuracy", "params"], "directions": ["minimize", "minimize"]}, None, None,
         "study.directions[0]: 'accuracy' is best when it is high, so it must be maximize"),
        ({"metric": ["accuracy", "latency_ms"], "directions": ["maximize", "minimize"],
          "pruner": "median"}, None, None,
         "study.pruner: rule: Optuna prunes single-objective studies only"),
        ({"metric": ["accuracy", "latency_ms"], "directions": ["maximize", "minimize"],
          "sampler": "cmaes"}, None, None,
         "study.sampler.name: sampler 'cmaes' optimises one objective"),
        ({"metric": "accuracy", "directions": None}, {"pick": "most_accurate"}, None,
         "final.pick chooses among the Pareto front of a study with several objectives; rule: "
         "this study has one"),
        ({"metric": ["accuracy", "params"], "directions": ["maximize", "minimize"]},
         {"pick": {"rule": "most_accurate_within", "factor": 2, "cost": "latency_ms"}}, None,
         "final.pick.cost: rule: it must be one of the study's objectives"),
        ({}, {"pick": {"rule": "most_accurate_within"}}, None,
         "rule 'most_accurate_within' needs factor"),
        ({}, {"pick": {"rule": "cheapest_within", "tolerance": 0.01, "factor": 2}}, None,
         "factor applies to rule most_accurate_within only"),
        ({}, {"pick": {"rule": "most_accurate", "cost": "params"}}, None,
         "cost would do nothing with rule 'most_accurate'"),
        ({}, {"pick": {"rule": "most_accurate_within", "factor": 0.5}}, None,
         "final.pick.factor: must be >= 1 or null, got 0.5"),
        ({}, {"ensemble": 2}, {"seeds": 1}, "final.ensemble: rule: a study with several "
         "objectives exports the one front member final.pick chooses"),
        ({}, None, {"top_k": 3}, "recheck.top_k: rule: a study with several objectives "
         "re-checks the one front member"),
    ],
)  # fmt: skip
def test_bad_multi_objective_settings_are_refused(
    tiny_workdir: Path, study: dict[str, Any], final: Any, recheck: Any, message: str
) -> None:
    mapping = _pareto(write_npz(tiny_workdir), study=study)
    if final is not None:
        mapping["final"] = final
    if recheck is not None:
        mapping["recheck"] = recheck
    if study.get("directions", ()) is None:
        mapping["study"].pop("directions")
    assert message in _error(mapping)
    assert not (tiny_workdir / "runs").exists()  # nothing written


def test_pruning_refusal_is_the_cli_exit_code_2(tiny_workdir: Path) -> None:
    from finetune_fixtures import write_yaml

    from tunesmith.cli.main import main

    mapping = _pareto(write_npz(tiny_workdir), study={"pruner": "asha"})
    path = write_yaml(tiny_workdir / "bad.yaml", mapping)
    assert main(["tune", str(path)]) == 2
    assert not (tiny_workdir / "runs").exists()
