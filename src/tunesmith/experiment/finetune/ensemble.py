"""The ensemble of the final phase (``final.ensemble: K``).

The top ``K`` rows of the seed re-check (``study.user_attrs["recheck"]``, the winner first) name
search trials whose trained weights are saved in their folders (``trials/NNNNN``, with the exact
job in ``config.yaml``). Their predicted probabilities on the test split (read once for all of
them) are averaged; the ensemble's and the single winner's test scores are recorded side by side
(``study.user_attrs["ensemble"]``) and the ensemble is exported to ``runs/<name>/best/ensemble``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def run_ensemble(study: Any, trials_dir: str | Path, *, k: int, run_dir: Path) -> dict[str, Any]:
    """Score and export the ensemble of the top ``k`` re-checked trials; return its record."""
    import yaml

    from tunesmith.engine.ensemble_eval import evaluate_ensemble
    from tunesmith.engine.weights import WEIGHTS_FILE
    from tunesmith.errors import ConfigError
    from tunesmith.experiment.finetune.objective import validate_job

    rows = list(study.user_attrs.get("recheck") or [])[:k]
    trials = [int(r["trial"]) for r in rows]
    jobs, weights = [], []
    for trial in trials:
        folder = Path(trials_dir) / f"{trial:05d}"
        path = folder / WEIGHTS_FILE
        if not path.is_file():
            raise ConfigError(
                f"final.ensemble: trial {trial} saved no weights ({path}); rule: members are "
                "search trials that kept their weights (no data.kfold)"
            )
        mapping = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        jobs.append(validate_job(mapping, f"trial {trial} config"))
        weights.append(path)
    if len(jobs) < 2:
        raise ConfigError(f"final.ensemble {k}: only {len(jobs)} re-checked model(s) to average")
    out = evaluate_ensemble(jobs, weights, run_dir / "best" / "ensemble")
    record = {
        "k": len(jobs),
        "trials": trials,
        "test": out["ensemble"],
        "winner_test": out["members"][0],
        "member_test": out["members"],
        "model_path": out.get("model_path"),
    }
    study.set_user_attr("ensemble", record)
    log.info("ensemble of trials %s: test %s; winner alone %s", trials, out["ensemble"],
             out["members"][0])  # fmt: skip
    return record
