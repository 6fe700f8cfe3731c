"""The LCBench benchmark's parts that run without its own environment: the clean skip, the epoch
ledger's accounting and the target's verdict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


surrogate = _load("lcbench_surrogate")
lcbench = _load("lcbench")


class Curves:
    """A deterministic learning-curve table in the surrogate's calling convention (the ONNX
    surrogate needs the benchmark's own environment): accuracy rises with epochs and lr."""

    def __init__(self) -> None:
        self.calls = 0

    def objective_function(self, x: dict[str, Any]) -> list[dict[str, float]]:
        self.calls += 1
        return [{"val_accuracy": 50.0 + 10 * x["learning_rate"] + x["epoch"] / 2}]


CONFIG = {
    "batch_size": 64,
    "learning_rate": 0.01,
    "max_dropout": 0.1,
    "max_units": 128,
    "momentum": 0.9,
    "num_layers": 2,
    "weight_decay": 0.001,
}


def test_run_skips_with_a_message_when_the_surrogate_or_packages_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _load("run")
    out = tmp_path / "results"
    code = run.main(
        ["--only", "lcbench", "--lcbench-data", str(tmp_path / "none"), "--results-dir", str(out)]
    )
    assert code == 0
    assert "lcbench skipped" in capsys.readouterr().out
    assert not out.exists() or not any(out.iterdir())


def test_ledger_charges_only_epochs_not_trained_yet_and_stops_at_the_budget() -> None:
    curves = Curves()
    ledger = surrogate.Ledger(curves, "3945", budget=10)
    assert ledger.train(CONFIG, 3) == [50.6, 51.1, 51.6]
    assert ledger.spent == 3
    # a higher fidelity resumes: only epochs 4-6 are charged; a lower one costs nothing
    assert len(ledger.train(dict(CONFIG, batch_size=64.2), 6)) == 6  # the same config once rounded
    assert ledger.spent == 6 and curves.calls == 6
    assert ledger.train(CONFIG, 2) == [50.6, 51.1] and ledger.spent == 6
    other = dict(CONFIG, learning_rate=0.02)
    assert len(ledger.train(other, 52)) == 4  # the budget ends after 4 more epochs
    assert ledger.exhausted and ledger.spent == 10 and ledger.configs == 2
    assert ledger.trace == sorted(ledger.trace)
    assert ledger.best_at(0.5) == pytest.approx(52.6)  # epoch 5 of the first config
    assert ledger.best_at(1.0) == pytest.approx(max(ledger.trace))
    assert ledger.train(dict(CONFIG, num_layers=3), 1) == []  # nothing left to spend


def test_verdict_needs_every_task_and_budget_share() -> None:
    def row(method: str, task: str, seed: int, value: float) -> dict[str, Any]:
        return {
            "method": method,
            "task": task,
            "seed": seed,
            "best": dict.fromkeys(("0.25", "0.5", "1.0"), value),
        }

    rows = [row("tunesmith_tpe_median", t, s, 80.0 + s) for t in "ab" for s in range(3)]
    rows += [row("dehb", "a", s, 80.5) for s in range(3)]
    rows += [row("dehb", "b", s, 82.0) for s in range(3)]  # beats tunesmith's median 81 on b
    out = lcbench.summarise(rows, ["tunesmith_tpe_median", "dehb"], ["a", "b"])
    verdict = out["verdicts"]["tunesmith_tpe_median"]
    assert out["median"]["1.0"]["a"] == {"tunesmith_tpe_median": 81.0, "dehb": 80.5}
    assert verdict["cells"] == 6 and verdict["cells_met"] == 3 and not verdict["met"]
    assert verdict["worst_gap"] == pytest.approx(-1.0)
