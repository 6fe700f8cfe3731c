"""The Trainer and Lightning callbacks on real trainers, through the examples in examples/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tunesmith.integrations.core import TrialReport
from tunesmith.runners.base import CallbackReporter

ROOT = Path(__file__).resolve().parents[2]
PRUNER = {"name": "median", "options": {"n_startup_trials": 1, "n_warmup_steps": 0}}


def _check_good_then_pruned(result, epochs: int) -> None:
    """Seed 0 draws the working learning rate first, then lr=0 (which must be pruned)."""
    good, bad = result.study.trials
    assert good.params["lr"] > 0 and bad.params["lr"] == 0.0
    assert good.state == TrialState.COMPLETE
    assert len(good.intermediate_values) == epochs  # one report per evaluation
    assert good.value == max(good.intermediate_values.values())
    assert Path(good.user_attrs["best_checkpoint"]).exists()
    # Pruned after its first evaluation: training stopped there and the value is the last one.
    assert bad.state == TrialState.PRUNED
    assert len(bad.intermediate_values) == 1
    assert bad.value == next(iter(bad.intermediate_values.values()))
    assert bad.value < good.value
    assert Path(bad.user_attrs["best_checkpoint"]).exists()


def test_hf_trainer_example_reports_prunes_and_records_checkpoint(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from examples import hf_trainer

    result = hf_trainer.main(n_trials=2, pruner=PRUNER, seed=0)
    _check_good_then_pruned(result, epochs=3)
    assert sorted(result.study.trials[0].intermediate_values) == [1, 2, 3]  # step = epoch


def test_lightning_example_reports_prunes_and_records_checkpoint(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from examples import lightning_module

    result = lightning_module.main(n_trials=2, pruner=PRUNER, seed=0)
    _check_good_then_pruned(result, epochs=4)
    assert sorted(result.study.trials[0].intermediate_values) == [0, 1, 2, 3]
    assert result.study.trials[0].user_attrs["best_checkpoint"].endswith(".ckpt")


def test_core_reports_tracks_best_and_stops_on_prune():
    answers = iter([False, False, True])
    seen: list[tuple[int, float]] = []

    def decide(key, step, value):
        seen.append((step, value))
        return next(answers)

    core = TrialReport(CallbackReporter(0, decide), "loss", direction="minimize")
    assert core.report(0, 0.9) is False
    core.saved("ckpt-0")
    assert core.report(1, 0.5) is False
    core.saved("ckpt-1")
    assert core.report(2, 0.7) is True  # the pruner said stop
    core.saved("ckpt-2")  # not the best: ignored
    assert core.report(3, 0.6) is True  # once pruned, stays pruned without asking again
    assert seen == [(0, 0.9), (1, 0.5), (2, 0.7)]
    assert core.result() == {"loss": 0.5, "best_checkpoint": "ckpt-1"}


def test_core_names_the_missing_metric():
    core = TrialReport(CallbackReporter(0, lambda *a: False), "eval_accuracy")
    with pytest.raises(KeyError, match=r"eval_accuracy.*\['eval_f1', 'eval_loss'\]"):
        core.value_from({"eval_loss": 0.3, "eval_f1": 0.8})
    with pytest.raises(TypeError, match="reporter"):
        TrialReport(object(), "eval_accuracy")


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        ("lightning", "tunesmith.integrations.lightning", "lightning"),
        ("accelerate", "tunesmith.integrations.transformers", "transformers"),
    ],
)
def test_missing_framework_names_the_install_command(blocked, module, extra):
    code = f"""
import sys
sys.modules[{blocked!r}] = None  # as if the package were not installed
from tunesmith.errors import MissingDependencyError
try:
    import {module} as m
    m.TunesmithCallback(object())
except MissingDependencyError as exc:
    print("ERROR", exc)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert f"pip install 'tunesmith[{extra}]'" in out, out
