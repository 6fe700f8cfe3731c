"""What a fine-tuning search leaves in ``runs/<name>/best/`` beside the exported model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_best_folder(
    run_dir: Path, study: Any, record: Mapping[str, Any], base: Mapping[str, Any]
) -> Path:
    """``runs/<name>/best/``: model (already exported), config, metrics, seeds and a model card."""
    import yaml

    from tunesmith.experiment.finetune.objective import job_mapping
    from tunesmith.reports.model_card import model_card
    from tunesmith.utils.atomic import atomic_write_json, atomic_write_text

    best = run_dir / "best"
    best.mkdir(parents=True, exist_ok=True)
    job = job_mapping(base, record["params"])
    atomic_write_text(best / "config.yaml", yaml.safe_dump(job, sort_keys=False))
    recheck = study.user_attrs.get("recheck") or []
    metrics = {
        "metric": record["metric"],
        "validation": record["validation"],
        "test": record["test"],
        "best_trial": record["best_trial"],
        "best_epoch": record.get("best_epoch"),
        "retrained_on_train_val": bool(record.get("retrained_on_train_val")),
        "seeds": next((r["seeds"] for r in recheck if r.get("winner")), [job.get("seed", 0)]),
        "recheck": recheck,
    }
    if study.user_attrs.get("pick"):  # several objectives: which front member and why
        metrics["pick"] = study.user_attrs["pick"]
        metrics["cost"] = record.get("cost")
    atomic_write_json(best / "metrics.json", metrics)
    atomic_write_text(best / "MODEL_CARD.md", model_card(study.study_name, job, metrics))
    return best
