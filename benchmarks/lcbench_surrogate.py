"""The LCBench surrogate (YAHPO Gym) behind an epoch ledger every method of ``lcbench.py`` shares.

The surrogate gives, for one OpenML task, a configuration of the 7 LCBench hyperparameters and an
epoch ``e`` in 1..52, the validation accuracy (percent) a network trained for ``e`` epochs had.
:class:`Ledger` is the budget: a method asks for ``train(config, epochs)`` and is charged the
epochs this configuration has not trained yet (a configuration evaluated again at a higher
fidelity resumes from its checkpoint; the same rule for every method). Each newly trained epoch's
value goes into the anytime trace, so the best value seen after any share of the budget is read
from one run. When the budget runs out mid-way, the epochs past it are neither trained nor seen.

Needs the benchmark-only environment (``benchmarks/requirements-lcbench.txt``), never tunesmith's.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any

MAX_EPOCH = 52
METRIC = "val_accuracy"
"""The surrogate's validation accuracy in percent (maximised)."""

# name: (kind, low, high, log) as in YAHPO's lcbench config_space.json
PARAMS: dict[str, tuple[str, float, float, bool]] = {
    "batch_size": ("int", 16, 512, True),
    "learning_rate": ("float", 1e-4, 1e-1, True),
    "max_dropout": ("float", 0.0, 1.0, False),
    "max_units": ("int", 64, 1024, True),
    "momentum": ("float", 0.1, 0.99, False),
    "num_layers": ("int", 1, 5, False),
    "weight_decay": ("float", 1e-5, 1e-1, False),
}


class BudgetSpent(Exception):
    """The ledger's epoch budget is used up: the method stops here."""


def open_benchmark(data_path: Path) -> Any:
    """YAHPO's LCBench ``BenchmarkSet`` on ``data_path`` (which holds ``lcbench/``), one thread."""
    import ConfigSpace
    from yahpo_gym import benchmark_set, local_config

    # yahpo-gym 1.0.2 pins ConfigSpace <= 0.6.1 while SMAC3 needs >= 1.0; the one method it calls
    # that 1.x lacks only re-orders a dict that it then reads by name (outputs checked identical
    # to ConfigSpace 0.6.1 on 15 configurations of 3 tasks).
    if not hasattr(ConfigSpace.ConfigurationSpace, "_sort_hyperparameters"):
        ConfigSpace.ConfigurationSpace._sort_hyperparameters = lambda self: None
    with contextlib.redirect_stdout(io.StringIO()):  # its citation notice
        local_config.init_config()
        local_config.set_data_path(str(data_path))
        return benchmark_set.BenchmarkSet("lcbench", active_session=True, multithread=False)


def config_space(seed: int) -> Any:
    """The 7 hyperparameters as a ConfigSpace space (for SMAC, DEHB and the top-k baseline)."""
    from ConfigSpace import ConfigurationSpace, Float, Integer

    cs = ConfigurationSpace(seed=seed)
    for name, (kind, low, high, log) in PARAMS.items():
        make = Integer if kind == "int" else Float
        cs.add(make(name, (int(low), int(high)) if kind == "int" else (low, high), log=log))
    return cs


def tunesmith_space() -> dict[str, dict[str, Any]]:
    """The same 7 hyperparameters as a tunesmith space."""
    return {
        name: {"type": kind, "low": low, "high": high, "log": log}
        for name, (kind, low, high, log) in PARAMS.items()
    }


def clean(config: Any) -> dict[str, Any]:
    """Plain Python values of a config (a dict or a ConfigSpace Configuration), ints rounded."""
    out: dict[str, Any] = {}
    for name, (kind, low, high, _) in PARAMS.items():
        value = config[name]
        out[name] = int(round(float(value))) if kind == "int" else float(value)
        out[name] = min(max(out[name], type(out[name])(low)), type(out[name])(high))
    return out


def _key(config: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(round(v, 12) if isinstance(v, float) else v for v in map(config.get, PARAMS))


class Ledger:
    """One method's run on one task: the epoch budget, what each configuration trained, the trace.

    ``trace[i]`` is the best validation accuracy seen after ``i + 1`` charged epochs.
    """

    def __init__(self, bench: Any, task: str, budget: int) -> None:
        self._bench = bench
        self._task = task
        self.budget = budget
        self.spent = 0
        self.trace: list[float] = []
        self.evaluations = 0  # (config, fidelity) requests
        self._trained: dict[tuple[Any, ...], list[float]] = {}

    @property
    def configs(self) -> int:
        """How many distinct configurations trained at least one epoch."""
        return sum(bool(curve) for curve in self._trained.values())

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget

    def _value(self, config: dict[str, Any], epoch: int) -> float:
        x = dict(config, epoch=epoch, OpenML_task_id=self._task)
        value = float(self._bench.objective_function(x)[0][METRIC])
        return value if math.isfinite(value) else 0.0

    def train(self, config: Any, epochs: int) -> list[float]:
        """Validation accuracy after each of epochs 1..``epochs`` (fewer when the budget ends)."""
        config = clean(config)
        epochs = min(max(int(round(epochs)), 1), MAX_EPOCH)
        self.evaluations += 1
        curve = self._trained.setdefault(_key(config), [])
        while len(curve) < epochs and not self.exhausted:
            value = self._value(config, len(curve) + 1)
            curve.append(value)
            self.spent += 1
            self.trace.append(max(value, self.trace[-1]) if self.trace else value)
        return curve[:epochs]

    def best_at(self, fraction: float) -> float:
        """Best value seen within ``fraction`` of the budget (nan when nothing was trained)."""
        upto = min(len(self.trace), int(round(fraction * self.budget)))
        return self.trace[upto - 1] if upto > 0 else float("nan")
