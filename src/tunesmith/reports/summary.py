"""The summary of a finished study: one object for Python callers, one text for the terminal.

:func:`summarise` gives :class:`TuneResult` (what ``tunesmith.tune`` returns); :func:`write_summary`
prints the trial counts, the best trial (or the Pareto front) and, for a fine-tuning search, the
leaderboard, the seed re-check table and the final scores, with the paths they were written to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass(frozen=True)
class TuneResult:
    """What a search found. ``best_params``/``best_value`` are None for multi-objective studies,
    whose Pareto front is ``best_trials``; ``trials`` is Optuna's ``trials_dataframe()``.

    For a fine-tuning experiment, ``validation`` and ``test`` are the exported model's scores
    (metric name → value) and ``model_path`` the exported model (``tunesmith.load_model`` reads
    it); they are None for other experiments.
    """

    study_name: str
    storage: str
    best_params: dict[str, Any] | None
    best_value: float | None
    best_trials: list[Any]
    trials: Any
    study: Any = field(repr=False)
    validation: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    model_path: str | None = None


def summarise(study: Any, url: str) -> TuneResult:
    """The :class:`TuneResult` of ``study``, kept at ``url``."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    multi = len(study.directions) > 1
    if not complete:
        best_trials: list[Any] = []
    elif multi:
        best_trials = list(study.best_trials)
    else:
        best_trials = [study.best_trial]
    single = best_trials[0] if best_trials and not multi else None
    final = study.user_attrs.get("final") or {}
    return TuneResult(
        study_name=study.study_name,
        storage=url,
        best_params=dict(single.params) if single else None,
        best_value=float(single.value) if single else None,
        best_trials=best_trials,
        trials=study.trials_dataframe(),
        study=study,
        validation=final.get("validation"),
        test=final.get("test"),
        model_path=final.get("model_path"),
    )


def write_summary(result: TuneResult, out: TextIO, *, leaderboard: bool = False) -> None:
    """Print what ``tunesmith tune`` prints at the end; ``leaderboard`` for fine-tuning searches."""
    from optuna.trial import TrialState

    from tunesmith.storage.urls import redact

    study = result.study
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    out.write(
        f"study {result.study_name!r}: {counts[TrialState.COMPLETE]} complete, "
        f"{counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed "
        f"(storage {redact(result.storage)})\n"
    )
    if result.best_trials and len(study.directions) > 1:
        out.write(f"Pareto front: {len(result.best_trials)} trials\n")
        for t in result.best_trials:
            out.write(f"  trial {t.number}: values {t.values} params {t.params}\n")
        pick = study.user_attrs.get("pick")
        if isinstance(pick, dict):
            out.write(f"picked trial {pick['trial']} by final.pick {pick['reason']}\n")
    elif result.best_trials:
        best = result.best_trials[0]
        out.write(f"best trial {best.number}: value {best.value:.6g}\n")
        for name, value in best.params.items():
            out.write(f"  {name} = {value!r}\n")
    if leaderboard:
        if len(study.directions) == 1:  # several objectives: the front above is the ranking
            _write_leaderboard(study, out)
        _write_recheck(study.user_attrs.get("recheck") or [], out)
        _write_final(study.user_attrs.get("final"), out, study.user_attrs.get("ensemble"))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def _write_leaderboard(study: Any, out: TextIO, top: int = 10) -> None:
    from optuna.trial import TrialState

    maximize = study.direction.name == "MAXIMIZE"
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    done.sort(key=lambda t: -t.value if maximize else t.value)
    out.write(f"\nLeaderboard (top {min(top, len(done))} of {len(done)} complete trials)\n")
    out.write(f"{'rank':>4} {'trial':>5} {'value':>8} {'epoch':>5}  params\n")
    for rank, t in enumerate(done[:top], 1):
        params = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in t.params.items())
        epoch = t.user_attrs.get("best_epoch")
        epoch = int(epoch) if isinstance(epoch, (int, float)) and math.isfinite(epoch) else ""
        out.write(f"{rank:>4} {t.number:>5} {_fmt(t.value):>8} {epoch!s:>5}  {params}\n")


def _write_recheck(recheck: list[dict[str, Any]], out: TextIO) -> None:
    if not recheck:
        return
    out.write("\nSeed re-check (mean ± std of validation score over seeds)\n")
    for row in recheck:
        mark = "  <- winner" if row.get("winner") else ""
        out.write(
            f"  trial {row['trial']:>4}: {_fmt(row['mean'])} ± {_fmt(row['std'])} "
            f"over seeds {row['seeds']}{mark}\n"
        )


def _write_final(
    final: dict[str, Any] | None, out: TextIO, ensemble: dict[str, Any] | None = None
) -> None:
    if not final:
        return
    metric = final["metric"]
    out.write(
        f"\nFinal model (trial {final['best_trial']}): validation {metric} "
        f"{_fmt(final['validation'].get(metric))}, test {metric} "
        f"{_fmt(final['test'].get(metric))}\n"
    )
    cost = final.get("cost")
    if cost:
        out.write(
            "  cost: "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in cost.items() if k != "latency_batch_size")
            + f" (latency at batch size {_fmt(cost.get('latency_batch_size'))})\n"
        )
    if final.get("retrained_on_train_val"):
        out.write(
            f"  retrained on train + validation for {final.get('final_epochs')} epochs; "
            "the validation score is the search run's\n"
        )
    best = Path(final["model_path"]).parent
    out.write(f"  best model: {best}/  (load with tunesmith.load_model('{final['model_path']}'))\n")
    out.write(f"  report:     {best.parent / 'report' / 'report.html'}\n")
    if ensemble:
        out.write(
            f"  ensemble of the top {ensemble['k']} (trials {ensemble['trials']}): test {metric} "
            f"{_fmt(ensemble['test'].get(metric))} against the winner's "
            f"{_fmt(ensemble['winner_test'].get(metric))}; {ensemble['model_path']}\n"
        )
