"""The peers of ``benchmarks/lcbench.py``, each as its documentation shows, on a shared ledger.

* ``optuna_tpe_hyperband``: ``optuna.samplers.TPESampler(seed)`` (Optuna's defaults) with
  ``HyperbandPruner(min_resource=1, max_resource=52, reduction_factor=3)``; each epoch reported.
* ``smac_mf``: SMAC3's ``MultiFidelityFacade`` (random forest, Hyperband intensifier, eta 3)
  through ask/tell with budgets 1..52 epochs; cost = 100 - validation accuracy.
* ``dehb``: ``DEHB(min_fidelity=1, max_fidelity=52, eta=3)`` through ask/tell.
* ``one_epoch_top_k``: half the budget trains random configurations for one epoch each, the other
  half continues the best ``k`` of them to 52 epochs (``k`` = what that half pays for).

A configuration evaluated at a fidelity is charged only the epochs it had not trained (the
ledger's rule); its result is the best epoch's accuracy up to that fidelity. Each function runs
until the ledger's budget is spent.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from typing import Any

from lcbench_surrogate import MAX_EPOCH, PARAMS, BudgetSpent, Ledger, config_space


def optuna_tpe_hyperband(ledger: Ledger, seed: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        config = {
            name: (trial.suggest_int if kind == "int" else trial.suggest_float)(
                name, low, high, log=log
            )
            for name, (kind, low, high, log) in PARAMS.items()
        }
        best = float("-inf")
        for epoch in range(1, MAX_EPOCH + 1):
            curve = ledger.train(config, epoch)
            if len(curve) < epoch:
                raise BudgetSpent
            best = max(best, curve[-1])
            trial.report(curve[-1], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned
        return best

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=MAX_EPOCH, reduction_factor=3
        ),
    )
    with contextlib.suppress(BudgetSpent):
        study.optimize(objective, n_trials=ledger.budget)


def smac_mf(ledger: Ledger, seed: int) -> None:
    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(
            config_space(seed),
            deterministic=True,
            n_trials=ledger.budget,  # an upper bound: the ledger stops the run
            min_budget=1,
            max_budget=MAX_EPOCH,
            seed=seed,
            output_directory=out,
        )
        smac = MultiFidelityFacade(
            scenario,
            lambda config, seed=0, budget=MAX_EPOCH: 0.0,  # never called: ask/tell below
            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=3),
            overwrite=True,
            logging_level=logging.ERROR,
        )
        while not ledger.exhausted:
            info = smac.ask()
            epochs = int(round(info.budget or MAX_EPOCH))
            curve = ledger.train(info.config, epochs)
            if len(curve) < epochs:
                break
            smac.tell(info, TrialValue(cost=100.0 - max(curve)))


def dehb(ledger: Ledger, seed: int) -> None:
    from dehb import DEHB
    from loguru import logger

    logger.remove()  # DEHB logs every bracket through loguru
    with tempfile.TemporaryDirectory() as out:
        opt = DEHB(
            cs=config_space(seed),
            min_fidelity=1,
            max_fidelity=MAX_EPOCH,
            eta=3,
            n_workers=1,
            seed=seed,
            output_path=out,
            save_freq=None,
        )
        while not ledger.exhausted:
            job = opt.ask()
            epochs = int(round(job["fidelity"]))
            curve = ledger.train(job["config"], epochs)  # a Configuration (cs given)
            if len(curve) < epochs:
                break
            opt.tell(job, {"fitness": 100.0 - max(curve), "cost": float(epochs)})


def one_epoch_top_k(ledger: Ledger, seed: int) -> None:
    screen = ledger.budget // 2
    k = max(1, (ledger.budget - screen) // (MAX_EPOCH - 1))
    configs: list[Any] = config_space(seed).sample_configuration(screen)
    scored = []
    for config in configs:
        curve = ledger.train(config, 1)
        if not curve:
            return
        scored.append((curve[0], config))
    scored.sort(key=lambda pair: -pair[0])
    for _, config in scored[:k]:
        if len(ledger.train(config, MAX_EPOCH)) < MAX_EPOCH:
            return


PEERS = {
    "optuna_tpe_hyperband": optuna_tpe_hyperband,
    "smac_mf": smac_mf,
    "dehb": dehb,
    "one_epoch_top_k": one_epoch_top_k,
}
