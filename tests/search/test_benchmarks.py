"""The synthetic benchmark: known optima of its functions, and one tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building
    spec.loader.exec_module(module)
    return module


synthetic = _load("synthetic")


@pytest.mark.parametrize(("x1", "x2"), [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)])
def test_branin_minimisers(x1: float, x2: float) -> None:
    assert synthetic.branin(x1, x2) == pytest.approx(0.397887, abs=1e-5)


def test_hartmann6_minimum_and_a_worse_point() -> None:
    best = synthetic.PROBLEMS[1]
    assert synthetic.hartmann6(*best.argmin) == pytest.approx(-3.32237, abs=1e-4)
    assert synthetic.hartmann6(*([0.5] * 6)) > -3.32237 + 0.5


def test_no_sampled_point_beats_the_known_optimum() -> None:
    for problem in synthetic.PROBLEMS:
        out = synthetic.run_one(problem, "random", seed=0, n_trials=200)
        assert min(out["best_so_far"]) >= problem.optimum - 1e-6
        assert out["best_so_far"] == sorted(out["best_so_far"], reverse=True)


def test_run_writes_json_and_markdown(tmp_path: Path, capsys) -> None:
    run = _load("run")
    code = run.main(
        [
            "--only",
            "synthetic",  # the fine-tuning benchmarks take many minutes: run by `make bench` only
            "--samplers",
            "random",
            "tpe",
            "--budgets",
            "5",
            "10",
            "--seeds",
            "0",
            "1",
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "synthetic.json").read_text())
    assert len(data["runs"]) == 2 * 2 * 2  # functions x samplers x seeds
    assert all(set(r["regret"]) == {"5", "10"} for r in data["runs"])
    assert all(r["regret"]["10"] <= r["regret"]["5"] for r in data["runs"])
    table = (tmp_path / "synthetic.md").read_text()
    assert "| hartmann6 | tpe | 10 |" in table
    assert "| branin | random | 5 |" in capsys.readouterr().out
    assert run.main(["--only", "nope"]) == 2
