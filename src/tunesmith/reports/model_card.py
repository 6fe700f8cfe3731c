"""Model cards: a short Markdown description of an exported model and how it scored."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _lora_lines(train: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[str]:
    if (train.get("freezing") or {}).get("strategy") != "lora":
        return []
    lora = train.get("lora") or {}
    fraction = (metrics.get("validation") or {}).get("trainable_fraction")
    share = f"{100 * fraction:.2f}%" if isinstance(fraction, float) else "unknown"
    r = lora.get("r", 8)
    return [
        f"- LoRA adapters: r {r}, alpha {lora.get('alpha') or 2 * r}, "
        f"targets {lora.get('targets', 'attention')}"
        + (f" (last {lora['layers']} layer groups)" if lora.get("layers") else "")
        + f"; trainable parameters: {share}"
    ]


def _distill_lines(job: Mapping[str, Any]) -> list[str]:
    kd = job.get("distill")
    if not kd:
        return []
    layers = (job.get("model") or {}).get("num_layers")
    kept = f"; the student keeps the first {layers} encoder layers" if layers else ""
    return [
        f"- Distilled from `{kd.get('teacher')}` (temperature {kd.get('temperature', 2.0)}, "
        f"alpha {kd.get('alpha', 0.5)}){kept}"
    ]


def model_card(study_name: str, job: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """A short Markdown model card: what was trained, on what, how it scored."""
    model = job.get("model", {})
    data = job.get("data", {})
    train = job.get("train", {})
    lines = [
        f"# Model card: best of study `{study_name}`",
        "",
        f"- Base model: `{model.get('name')}` ({model.get('kind')})",
        f"- Data: `{data.get('builtin') or data.get('train')}`, "
        f"task {data.get('task', 'classification')}",
        f"- Selection metric: {metrics['metric']} "
        f"(validation, best epoch {metrics.get('best_epoch')})",
        f"- Chosen from trial {metrics['best_trial']}; seeds checked: {metrics['seeds']}",
        *(
            [f"- Picked from the Pareto front by final.pick {metrics['pick']['reason']}"]
            if metrics.get("pick")
            else []
        ),
        *_lora_lines(train, metrics),
        *_distill_lines(job),
        "",
        "## Scores",
        "",
        "| split | " + " | ".join(sorted(metrics["test"] or metrics["validation"])) + " |",
        "|---|" + "---|" * len(metrics["test"] or metrics["validation"]),
    ]
    for split in ("validation", "test"):
        values = metrics[split] or {}
        keys = sorted(metrics["test"] or metrics["validation"])
        lines.append(f"| {split} | " + " | ".join(_fmt(values.get(k)) for k in keys) + " |")
    if metrics.get("retrained_on_train_val"):
        lines += [
            "",
            f"The final model was retrained on train + validation for {train.get('epochs')} "
            "epochs (the winner's best epoch); its validation scores are the search run's.",
        ]
    lines += [
        "",
        "The test split was read once, after the search and the seed re-check chose the winner.",
        "",
        "## Training settings",
        "",
        "```json",
        json.dumps(train, indent=2, default=str),
        "```",
        "",
        "Load it with `tunesmith.load_model(path).predict(inputs)`.",
    ]
    return "\n".join(lines) + "\n"
