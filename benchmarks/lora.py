"""LoRA against last_k on MiniLM / Rotten Tomatoes with the same search budget (issue 13).

Target: "LoRA trains <= 2 % of the parameters, with a best validation within 0.01 of the best
last-k configuration found with the same search budget. The adapter export is < 10 MB."

Two ``tunesmith tune`` runs, one after the other, on the split of ``finetune_default`` (2,000
train / 500 validation / 1,000 test, shuffled with seed 0), the same number of trials each
(``--lora-trials``, TPE with seed 0), 2 epochs per trial, a feature cache shared by the trials:

* ``last_k``: ``train.freezing.k`` in {1, 2}, the learning rate in the default space's last_k
  range (5e-5 - 2e-3, log), the schedule and the model dropout;
* ``lora``: ``train.lora.r`` in {4, 8, 16}, ``alpha`` in {8, 16, 32}, ``dropout`` in {0, 0.1},
  ``targets`` attention / all_linear, ``layers`` (adapters in the last 1 or 2 encoder layers: the
  layers below are a frozen prefix served by the cache, as last_k's are), the learning rate in the
  default space's LoRA range (1e-4 - 1e-3, log), the schedule and the model dropout.

Reported: each arm's best validation accuracy, the winner's trainable fraction and test
accuracy, the exported model's size (the adapter file alone and the whole folder), wall time and
the 1-minute load average before/after each run (the 2-core machine may be shared).

Run: ``python benchmarks/run.py --only lora [--lora-trials 4]``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from finetune_default import write_split
from tune_runs import folder_bytes, seed_cache, trial_rows, tune

TARGET_FRACTION = 0.02
TARGET_GAP = 0.01
TARGET_BYTES = 10 * 1024 * 1024

_COMMON = """
model: {{kind: hf_text, name: "packaged:minilm", max_length: 64, dropout: 0.1}}
data: {{train: {data}/train.csv, validation: {data}/validation.csv, test: {data}/test.csv}}
train:
  epochs: 2
  batch_size: 32
  group_by_length: true
  optimizer: {{name: adamw, lr: 1.0e-3, weight_decay: 0.01}}
  schedule: {{name: linear, warmup_ratio: 0.1}}
  freezing: {{strategy: {strategy}}}
seed: 0
recheck: {{top_k: 1, seeds: 0}}
final: {{train_on: train}}
study:
  name: {name}
  n_trials: {trials}
  sampler: {{name: tpe, seed: 0, options: {{n_startup_trials: {startup}}}}}
"""

_SPACES = {
    "last_k": """
space:
  train.freezing.k: {type: int, low: 1, high: DEPTH}
  train.optimizer.lr: {type: float, low: 5.0e-5, high: 2.0e-3, log: true}
  train.schedule.name: {type: categorical, choices: [constant, linear, cosine]}
  model.dropout: {type: float, low: 0.0, high: 0.3}
""",
    "lora": """
space:
  train.lora.r: {type: categorical, choices: [4, 8, 16]}
  train.lora.alpha: {type: categorical, choices: [8, 16, 32]}
  train.lora.dropout: {type: categorical, choices: [0.0, 0.1]}
  train.lora.targets: {type: categorical, choices: [attention, all_linear]}
  train.lora.layers: {type: int, low: 1, high: DEPTH}
  train.optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}
  train.schedule.name: {type: categorical, choices: [constant, linear, cosine]}
  model.dropout: {type: float, low: 0.0, high: 0.3}
""",
}


def _space(arm: str, depth: int) -> str:
    text = _SPACES[arm].replace("DEPTH", str(depth))
    if depth == 1:  # a one-value int range: the fixed value instead
        for key in ("train.freezing.k", "train.lora.layers"):
            old = f"{key}: {{type: int, low: 1, high: 1}}"
            text = text.replace(old, f"{key}: {{type: fixed, value: 1}}")
    return text


def run_arm(
    arm: str, data: Path, trials: int, depth: int, work: Path, cache_from: Path | None
) -> dict[str, Any]:
    name = f"bench-{arm}"
    config = _COMMON.format(
        data=data, strategy=arm, name=name, trials=trials, startup=max(1, trials // 2)
    )
    if cache_from is not None:  # a run folder with the same data, encoder and frozen prefix
        seed_cache(cache_from, work / arm / "runs" / name)
    study, seconds, load = tune(work / arm, name, config + _space(arm, depth))
    final = study.user_attrs["final"]
    model_dir = Path(final["model_path"])
    if not model_dir.is_absolute():
        model_dir = work / arm / model_dir
    weights = model_dir / "model.safetensors"
    meta = json.loads((model_dir / "tunesmith_model.json").read_text())
    rows = trial_rows(study)
    done = [r["validation"] for r in rows if r["validation"] is not None]
    return {
        "arm": arm,
        "trials": rows,
        "best_validation": max(done) if done else None,
        "final_validation": final["validation"].get(final["metric"]),
        "final_test": final["test"].get(final["metric"]),
        "final_params": final["params"],
        "trainable_fraction": meta["metrics"].get("trainable_fraction"),
        "export_weights_bytes": weights.stat().st_size,
        "export_folder_bytes": folder_bytes(model_dir),
        "export_has_lora": "lora" in meta,
        "seconds": round(seconds, 1),
        "load_1m": load,
    }


def _fmt(v: Any, digits: int = 4) -> str:
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table(res: dict[str, Any]) -> str:
    lk, lo = res["last_k"], res["lora"]
    mb = 1024 * 1024
    lines = [
        f"# LoRA vs last_k: MiniLM, Rotten Tomatoes ({res['trials']} trials each, 2 epochs, "
        f"the last 1-{res['depth']} encoder layer(s) trained)",
        "",
        "Split 2,000 train / 500 validation / 1,000 test (seed 0). Same budget: the same number "
        "of trials per arm (TPE, seed 0), "
        + ("run at the same time. " if res.get("parallel") else "run one after the other. ")
        + ("REDUCED RUN: " + res["reduced"] if res.get("reduced") else ""),
        "",
        "| arm | best val acc | winner test acc | trainable fraction | weights file (MB) | "
        "export folder (MB) | wall (s) | load 1m before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in (lk, lo):
        frac = arm["trainable_fraction"]
        lines.append(
            f"| {arm['arm']} | {_fmt(arm['best_validation'])} | {_fmt(arm['final_test'])} | "
            f"{'-' if frac is None else f'{100 * frac:.2f}%'} | "
            f"{arm['export_weights_bytes'] / mb:.2f} | {arm['export_folder_bytes'] / mb:.2f} | "
            f"{arm['seconds']:.0f} | {arm['load_1m']['before']:.1f} -> "
            f"{arm['load_1m']['after']:.1f} |"
        )
    lines += ["", "Trials (validation accuracy, params):", ""]
    for arm in (lk, lo):
        for r in arm["trials"]:
            frac = r["trainable_fraction"]
            share = "" if frac is None else f", trainable {100 * frac:.2f}%"
            lines.append(
                f"- {arm['arm']} trial {r['trial']} ({r['state']}): {_fmt(r['validation'])}"
                f"{share}; {r['params']}"
            )
    frac = lo["trainable_fraction"]
    gap = (
        lk["best_validation"] - lo["best_validation"]
        if lk["best_validation"] is not None and lo["best_validation"] is not None
        else None
    )
    checks = [
        (
            f"LoRA trains <= 2 % of the parameters: {_fmt(frac)}",
            frac is not None and frac <= TARGET_FRACTION,
        ),
        (
            f"LoRA's best validation within 0.01 of last_k's: {_fmt(lo['best_validation'])} vs "
            f"{_fmt(lk['best_validation'])} (last_k - LoRA = {_fmt(gap)})",
            gap is not None and gap <= TARGET_GAP,
        ),
        (
            f"adapter export < 10 MB: weights file {lo['export_weights_bytes']} bytes, whole "
            f"folder {lo['export_folder_bytes']} bytes",
            lo["export_has_lora"] and lo["export_folder_bytes"] < TARGET_BYTES,
        ),
    ]
    lines += ["", "Targets (issue 13), each reported met or not:"]
    lines += [f"- {text} -> {'met' if ok else 'NOT met'}" for text, ok in checks]
    lines += [
        "",
        "Machine: 2 cores, shared with other work (1-minute load averages in the table); "
        "the LoRA arm's `layers` keeps its adapters above a cached frozen prefix, as last_k's "
        "trained layers are.",
    ]
    return "\n".join(lines) + "\n"


def run(args: Any) -> str:
    trials = int(getattr(args, "lora_trials", None) or 4)
    depth = int(getattr(args, "lora_depth", None) or 2)
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"trials": trials, "depth": depth}
    if trials < 8:
        res["reduced"] = (
            f"{trials} trials per arm (a CPU-time limit on a shared 2-core machine), LoRA's "
            f"layers and last_k's k limited to the last 1-{depth} encoder layer(s); a longer "
            "search may change both arms."
        )
    arms = [args.lora_arm] if getattr(args, "lora_arm", None) else ["last_k", "lora"]
    start_cache = getattr(args, "lora_cache_from", None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_split(work / "data")
        cache_from = Path(start_cache) if start_cache else None
        for arm in arms:
            res[arm] = run_arm(arm, work / "data", trials, depth, work, cache_from)
            (out_dir / "lora.json").write_text(json.dumps(res, indent=2, default=str))
            # the same frozen prefix: the first arm's cached features serve the second
            cache_from = cache_from or work / arm / "runs" / f"bench-{arm}"
    if len(arms) == 1:
        return json.dumps(res[arms[0]], default=str)[:2000]
    md = table(res)
    (out_dir / "lora.md").write_text(md)
    return md


def merge(parts: list[Path], out_dir: Path, note: str) -> str:
    """Join one-arm runs (``--lora-arm``, each in its own results folder) into one result."""
    res: dict[str, Any] = {}
    for part in parts:
        one = json.loads((part / "lora.json").read_text())
        for key, value in one.items():
            res.setdefault(key, value)
    res["reduced"] = f"{res.get('reduced', '')} {note}".strip()
    res["parallel"] = True
    (out_dir / "lora.json").write_text(json.dumps(res, indent=2, default=str))
    md = table(res)
    (out_dir / "lora.md").write_text(md)
    return md
