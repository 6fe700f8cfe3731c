"""What ``tunesmith tune`` prints after a fine-tuning search: leaderboard, re-check, test score."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TextIO


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def print_finetune_summary(study: Any, out: TextIO, top: int = 10) -> None:
    """Leaderboard of the search, the seed re-check table and the final scores, with paths."""
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
    recheck = study.user_attrs.get("recheck") or []
    if recheck:
        out.write("\nSeed re-check (mean ± std of validation score over seeds)\n")
        for row in recheck:
            mark = "  <- winner" if row.get("winner") else ""
            out.write(
                f"  trial {row['trial']:>4}: {_fmt(row['mean'])} ± {_fmt(row['std'])} "
                f"over seeds {row['seeds']}{mark}\n"
            )
    final = study.user_attrs.get("final")
    if final:
        metric = final["metric"]
        out.write(
            f"\nFinal model (trial {final['best_trial']}): validation {metric} "
            f"{_fmt(final['validation'].get(metric))}, test {metric} "
            f"{_fmt(final['test'].get(metric))}\n"
        )
        if final.get("retrained_on_train_val"):
            out.write(
                f"  retrained on train + validation for {final.get('final_epochs')} epochs; "
                "the validation score is the search run's\n"
            )
        best = Path(final["model_path"]).parent
        out.write(
            f"  best model: {best}/  (load with tunesmith.load_model('{final['model_path']}'))\n"
        )
        out.write(f"  report:     {best.parent / 'report' / 'report.html'}\n")
