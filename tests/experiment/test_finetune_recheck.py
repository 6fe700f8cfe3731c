"""The seed re-check after a fine-tuning search (issue 4).

A search scores each configuration with one seed, so a lucky seed can win it. The re-check reruns
the top k with more seeds and picks the best mean: first on a constructed objective whose winner is
a lucky seed, then on a real (tiny) fine-tuning run through ``tunesmith tune``.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import optuna
import pytest
import yaml
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz, write_yaml  # noqa: E402

from tunesmith.cli.main import main  # noqa: E402
from tunesmith.config.experiment import StudyConfig  # noqa: E402
from tunesmith.experiment import run_study  # noqa: E402
from tunesmith.experiment.finetune.phases import run_recheck  # noqa: E402
from tunesmith.search.space import SearchSpace  # noqa: E402
from tunesmith.storage.study import RUN_OVERRIDES  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

SEARCH_SEED = 7


def lucky_score(arch: str, seed: int) -> float:
    """A scores 0.95 only with the search's seed and 0.6 otherwise; B is steady around 0.8."""
    if arch == "A":
        return 0.95 if seed == SEARCH_SEED else 0.6
    return 0.8 + 0.002 * (seed % 5)


@dataclass
class LuckySeedObjective:
    """Duck-typed like FinetuneObjective: ``metric``, ``trials_dir``, ``base``, ``phase()``."""

    base: dict[str, Any]
    trials_dir: str
    metric: str = "accuracy"
    mode: str = "search"
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # shared by every phase

    @property
    def default_metric(self) -> str:
        return self.metric

    def phase(
        self, trials_dir: str, mode: str = "search", export_dir: str | None = None
    ) -> LuckySeedObjective:
        del export_dir
        return replace(self, trials_dir=trials_dir, mode=mode)

    def __call__(self, params: dict[str, Any], reporter: Any) -> dict[str, Any]:
        del reporter
        seed = int(params.get("seed", self.base["seed"]))
        self.calls.append((Path(self.trials_dir).name, params["arch"], seed))
        return {self.metric: lucky_score(params["arch"], seed)}


def test_recheck_overturns_a_lucky_seed(tmp_path: Path) -> None:
    space = SearchSpace.from_config({"arch": {"type": "categorical", "choices": ["A", "B"]}})
    config = StudyConfig(
        name="lucky",
        storage=f"sqlite:///{tmp_path}/lucky.db",
        runner="inprocess",
        sampler={"name": "grid"},  # type: ignore[arg-type]
        n_trials=2,
        metric="accuracy",
    )
    objective = LuckySeedObjective({"seed": SEARCH_SEED}, str(tmp_path / "runs/lucky/trials"))

    study = run_study(config, space, objective)
    duck = cast(Any, objective)  # run_recheck is annotated with FinetuneObjective; duck-typed
    assert study.best_trial.params == {"arch": "A"} and study.best_value == 0.95
    assert {t.params["arch"]: t.value for t in study.trials} == {"A": 0.95, "B": 0.8 + 0.004}

    winner = run_recheck(study, config, space, duck, top_k=2, seeds=3, base_seed=SEARCH_SEED)

    assert winner is not None and winner["params"] == {"arch": "B"} and winner["winner"]
    table = study.user_attrs["recheck"]
    assert [row["params"]["arch"] for row in table] == ["B", "A"]  # best mean first
    assert [row["winner"] for row in table] == [True, False]
    for row in table:
        seeds = row["seeds"]
        assert len(seeds) == 4 and seeds[0] == SEARCH_SEED and len(set(seeds)) == 4
        assert row["scores"] == [lucky_score(row["params"]["arch"], s) for s in seeds]
        assert row["mean"] == pytest.approx(statistics.fmean(row["scores"]))
        assert row["std"] == pytest.approx(statistics.stdev(row["scores"]))
    a_row = table[1]
    assert a_row["mean"] == pytest.approx((0.95 + 3 * 0.6) / 4) and a_row["std"] > 0.15
    assert table[0]["seeds"][1:] == a_row["seeds"][1:]  # both rechecked with the same seeds

    # the re-check is a study of its own, in the same storage, one trial per (config, new seed):
    # fixed runs whose params are the configuration's and whose seed is their own setting
    phase_study = optuna.load_study(study_name="lucky.recheck", storage=config.storage_url())
    done = phase_study.get_trials(states=(TrialState.COMPLETE,))
    assert all(set(t.params) == {"arch"} for t in done)
    assert sorted((t.params["arch"], t.user_attrs[RUN_OVERRIDES]["seed"]) for t in done) == sorted(
        (arch, s) for arch in "AB" for s in a_row["seeds"][1:]
    )
    assert [c[0] for c in objective.calls] == ["trials"] * 2 + ["recheck"] * 6

    # resumable: a second call reuses the finished phase trials instead of rerunning them
    again = run_recheck(study, config, space, duck, top_k=2, seeds=3, base_seed=SEARCH_SEED)
    assert again == winner and len(objective.calls) == 8
    assert (
        len(optuna.load_study(study_name="lucky.recheck", storage=config.storage_url()).trials) == 6
    )


def test_final_model_is_the_one_the_search_scored(tiny_workdir: Path) -> None:
    """The final phase retrains the winner with the search's seed: on CPU that is the same model,
    so its validation metrics equal the winning search trial's."""
    from tunesmith.experiment import run_experiment

    paths = write_npz(tiny_workdir)
    study = run_experiment(load(experiment("same", paths, study={"n_trials": 2})))
    final = study.user_attrs["final"]
    searched = study.trials[final["best_trial"]].user_attrs
    assert final["validation"]["log_loss"] == pytest.approx(searched["val_log_loss"], abs=1e-9)


def test_real_run_writes_the_recheck_table_and_seeds(
    tiny_workdir: Path, capsys: pytest.CaptureFixture
) -> None:
    """A tiny fine-tuning search through ``tunesmith tune``: the top 2 rerun with 2 more seeds;
    the table lands in the study, the summary, the report and best/metrics.json."""
    paths = write_npz(tiny_workdir)
    mapping = experiment("rc", paths, recheck={"top_k": 2, "seeds": 2})
    write_yaml(tiny_workdir / "exp.yaml", mapping)
    assert main(["tune", "exp.yaml", "--no-progress"]) == 0
    out = capsys.readouterr().out

    url = "sqlite:///runs/rc/study.db"
    study = optuna.load_study(study_name="rc", storage=url)
    table = study.user_attrs["recheck"]
    assert len(table) == 2 and [r["winner"] for r in table] == [True, False]
    assert table[0]["mean"] >= table[1]["mean"]
    extra = set()
    for row in table:
        assert row["seeds"][0] == 0 and len(row["seeds"]) == 3
        assert row["scores"][0] == study.trials[row["trial"]].value  # the search's own score
        extra.update(row["seeds"][1:])
    assert len(extra) == 2 and 0 not in extra

    phase = optuna.load_study(study_name="rc.recheck", storage=url)
    done = phase.get_trials(states=(TrialState.COMPLETE,))
    seeds = {t.number: t.user_attrs[RUN_OVERRIDES]["seed"] for t in done}
    assert len(done) == 4 and set(seeds.values()) == extra
    for t in done:  # each re-check run left a config that re-runs it, with its seed
        written = yaml.safe_load(
            (tiny_workdir / "runs/rc/recheck" / f"{t.number:05d}" / "config.yaml").read_text()
        )
        assert written["seed"] == seeds[t.number]
        assert written["train"]["optimizer"]["lr"] == t.params["train.optimizer.lr"]

    best = json.loads((tiny_workdir / "runs/rc/best/metrics.json").read_text())
    assert best["seeds"] == table[0]["seeds"] and best["recheck"] == table
    assert best["best_trial"] == table[0]["trial"]
    written = yaml.safe_load((tiny_workdir / "runs/rc/best/config.yaml").read_text())
    assert written["train"]["optimizer"]["lr"] == table[0]["params"]["train.optimizer.lr"]
    card = (tiny_workdir / "runs/rc/best/MODEL_CARD.md").read_text()
    assert f"seeds checked: {table[0]['seeds']}" in card
    assert "Seed re-check" in out and "<- winner" in out
    html = (tiny_workdir / "runs/rc/report/report.html").read_text()
    assert "Seed re-check" in html and "winner" in html


@dataclass
class SlowRerunObjective(LuckySeedObjective):
    """Reruns of B (re-check phase, after A's) take 100 steps of 50 ms; the rest is instant."""

    def phase(
        self, trials_dir: str, mode: str = "search", export_dir: str | None = None
    ) -> SlowRerunObjective:
        del export_dir
        return replace(self, trials_dir=trials_dir, mode=mode)

    def report_steps(self, params: dict[str, Any]) -> int:
        return 100 if self._slow(params) else 1

    def _slow(self, params: dict[str, Any]) -> bool:
        return params["arch"] == "B" and Path(self.trials_dir).name == "recheck"

    def __call__(self, params: dict[str, Any], reporter: Any) -> dict[str, Any]:
        import time

        score = super().__call__(params, None)
        if self._slow(params):
            for step in range(1, 101):
                time.sleep(0.05)
                if reporter.report(step, 0.1):
                    break
        return score


def test_a_recheck_run_stopped_by_the_budget_is_left_out_of_the_means(tmp_path: Path) -> None:
    import time

    from tunesmith.experiment.budget import Plan, RunBudget

    space = SearchSpace.from_config({"arch": {"type": "categorical", "choices": ["A", "B"]}})
    config = StudyConfig(
        name="slow",
        storage=f"sqlite:///{tmp_path}/slow.db",
        runner="inprocess",
        sampler={"name": "grid"},  # type: ignore[arg-type]
        n_trials=2,
        metric="accuracy",
    )
    objective = SlowRerunObjective({"seed": SEARCH_SEED}, str(tmp_path / "runs/slow/trials"))
    study = run_study(config, space, objective)
    budget = RunBudget(Plan(10.0), time.monotonic(), time.monotonic)  # ~3 s for the re-check
    duck = cast(Any, objective)
    run_recheck(study, config, space, duck, top_k=2, seeds=1, base_seed=SEARCH_SEED, budget=budget)
    rows = {row["params"]["arch"]: row for row in study.user_attrs["recheck"]}
    assert len(rows["A"]["seeds"]) == 2  # A's rerun finished
    assert rows["B"]["seeds"] == [SEARCH_SEED]  # B's was cut by the budget: not a seed's score
    assert "re-check: 1 run(s) stopped by the budget, left out" in budget.plan.notes
    phase = optuna.load_study(study_name="slow.recheck", storage=config.storage_url())
    cut = [t for t in phase.trials if t.user_attrs.get("stopped_by") == "budget"]
    assert len(cut) == 1 and len(cut[0].intermediate_values) < 100
