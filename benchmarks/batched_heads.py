"""Batched head trials against one trial at a time: head-only trials per second.

K head configurations (learning rate, weight decay, dropout, loss drawn at random, seed 0) are
trained on cached-feature-sized inputs (2,000 x 384 training rows, 500 validation rows, 2 classes:
the shape of MiniLM's features on the Rotten Tomatoes split; Gaussian blobs, so no model is
loaded) for a fixed number of epochs, evaluated every epoch:

* ``batched``: one :func:`tunesmith.engine.batched_heads.train_heads` call with all K heads;
* ``one at a time``: K calls with one head each (the same code path, so the ratio is the
  vectorisation's gain alone; a real per-trial run adds tunesmith's per-trial overhead on top).

The heads' results are checked equal between the two runs before any time is reported.

The ``objective`` rows measure head trials per second through the fine-tuning objective, the way
the cost-aware default search runs them: K head trials of the default text space's head arm
(learning rate, weight decay, schedule, warmup, head dropout drawn at random; batch 64, up to 40
epochs with patience 5) on the packaged MiniLM's cached features of a small Rotten Tomatoes split
(600 training, 200 validation texts), after one untimed trial has filled the feature cache;
each way runs three times, interleaved, and its fastest time counts (the machine is shared):

* ``run_group``: one :meth:`FinetuneObjective.run_group` call with the K trials;
* ``one at a time (batched path)``: K calls, each a group of one (what an ungrouped trial runs);
  their records must equal the group's;
* ``one at a time (regular job)``: K calls with batching off (the regular training loop: what
  the search ran before); its validation accuracies differ from the batched path's (other initial
  draw, batch order and dropout stream), and the mean absolute difference is reported.

Run: ``python benchmarks/run.py --only batched_heads`` (``python benchmarks/batched_heads.py
--objective-only`` measures the objective rows and keeps the stored engine rows).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _configs(k: int) -> list[Any]:
    from tunesmith.engine.batched_heads import HeadConfig

    rng = random.Random(0)
    return [
        HeadConfig(
            lr=10 ** rng.uniform(-3.5, -1.3),
            weight_decay=rng.choice([0.0, 0.01, 0.1]),
            dropout=rng.uniform(0.0, 0.3),
            loss=rng.choice(["cross_entropy", "focal"]),
            seed=i,
        )
        for i in range(k)
    ]


def _data() -> tuple[Any, Any, Any, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(2, 384, generator=gen) * 0.15
    y = torch.randint(0, 2, (2500,), generator=gen)
    x = centers[y] + torch.randn(2500, 384, generator=gen)
    return x[:2000], y[:2000], x[2000:], y[2000:]


def measure(k: int, epochs: int) -> dict[str, Any]:
    import torch

    from tunesmith.engine.batched_heads import train_heads

    x, y, vx, vy = _data()
    configs = _configs(k)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    together = train_heads(x, y, vx, vy, configs, epochs=epochs, batch_size=32)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    alone = [train_heads(x, y, vx, vy, [c], epochs=epochs, batch_size=32)[0] for c in configs]
    single = time.perf_counter() - start
    same = all(
        a.scores == b.scores and torch.allclose(a.weight, b.weight, atol=1e-5)
        for a, b in zip(together, alone, strict=True)
    )
    return {
        "heads": k,
        "epochs": epochs,
        "batched_s": round(batched, 3),
        "one_at_a_time_s": round(single, 3),
        "batched_trials_per_s": round(k / batched, 2),
        "one_at_a_time_trials_per_s": round(k / single, 2),
        "speedup": round(single / batched, 2),
        "same_results": same,
        "best_val": max(r.best_score for r in together),
        "threads": torch.get_num_threads(),
        "load_1m": load,
    }


REPEATS = 3


class _Quiet:
    """A reporter that records nothing and never prunes."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.pruned = False

    def report(self, step: int, value: float) -> bool:
        return False


def _head_params(k: int) -> list[dict[str, Any]]:
    rng = random.Random(1)
    return [
        {
            "train.optimizer.lr": 10 ** rng.uniform(math.log10(3e-4), math.log10(5e-2)),
            "train.optimizer.weight_decay": rng.choice([0.0, 0.01, 0.1]),
            "train.schedule.name": rng.choice(["constant", "linear", "cosine"]),
            "train.schedule.warmup_ratio": rng.choice([0.0, 0.1]),
            "model.dropout": rng.uniform(0.0, 0.3),
        }
        for _ in range(k)
    ]


def _write_small_split(folder: Path, n_train: int = 600, n_val: int = 200) -> None:
    import numpy as np
    import pandas as pd

    from tunesmith.engine.data.builtin import rotten_tomatoes

    raw = rotten_tomatoes()
    order = np.random.default_rng(0).permutation(len(raw.labels))
    texts = [raw.inputs[i] for i in order]
    labels = [int(raw.labels[i] == "fresh") for i in order]
    folder.mkdir(parents=True, exist_ok=True)
    for split, (lo, hi) in {
        "train": (0, n_train),
        "validation": (n_train, n_train + n_val),
    }.items():
        pd.DataFrame({"text": texts[lo:hi], "label": labels[lo:hi]}).to_csv(
            folder / f"{split}.csv", index=False
        )


def measure_objective(k: int, work: Path) -> dict[str, Any]:
    """K head trials through the objective: one run_group vs K single calls (see the doc)."""
    from tunesmith.experiment.finetune.objective import FinetuneObjective
    from tunesmith.experiment.results import SETUP_SECONDS

    data = work / "data"
    _write_small_split(data)
    base = {
        "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64},
        "data": {"train": str(data / "train.csv"), "validation": str(data / "validation.csv")},
        "train": {
            "epochs": 40,
            "batch_size": 64,
            "device": "cpu",
            "optimizer": {"name": "adamw", "lr": 1e-2},
            "freezing": {"strategy": "head"},
            "early_stopping": {"patience": 5},
        },
        "seed": 0,
    }
    params = _head_params(k)

    def objective(name: str, batch: bool) -> Any:
        obj = FinetuneObjective(
            base=base,
            metric="accuracy",
            trials_dir=str(work / name),
            cache_dir=str(work / "cache"),
            keep_weights=False,
            batch_heads=batch,
        )
        obj(params[0], _Quiet(999))  # untimed: fills the feature cache (disk and this worker's)
        return obj

    def plain(record: dict[str, Any]) -> dict[str, Any]:
        return {key: v for key, v in record.items() if key != SETUP_SECONDS}

    load = os.getloadavg()[0]
    grouped, single, regular_obj = (
        objective("grouped", True),
        objective("single", True),
        objective("regular", False),
    )
    runs = {
        "group": lambda: grouped.run_group(params, [_Quiet(i) for i in range(k)]),
        "single": lambda: [single(p, _Quiet(i)) for i, p in enumerate(params)],
        "regular": lambda: [regular_obj(p, _Quiet(i)) for i, p in enumerate(params)],
    }
    best: dict[str, float] = {}
    out: dict[str, Any] = {}
    for _ in range(REPEATS):  # interleaved; the fastest of each (the machine is shared)
        for name, fn in runs.items():
            start = time.perf_counter()
            out[name] = fn()
            best[name] = min(best.get(name, math.inf), time.perf_counter() - start)
    together, alone, regular = out["group"], out["single"], out["regular"]
    group_s, single_s, regular_s = best["group"], best["single"], best["regular"]
    diffs = [abs(a["accuracy"] - b["accuracy"]) for a, b in zip(together, regular, strict=True)]
    return {
        "trials": k,
        "run_group_s": round(group_s, 3),
        "one_at_a_time_batched_s": round(single_s, 3),
        "one_at_a_time_regular_s": round(regular_s, 3),
        "run_group_trials_per_s": round(k / group_s, 2),
        "one_at_a_time_batched_trials_per_s": round(k / single_s, 2),
        "one_at_a_time_regular_trials_per_s": round(k / regular_s, 2),
        "speedup_vs_batched_alone": round(single_s / group_s, 2),
        "speedup_vs_regular": round(regular_s / group_s, 2),
        "same_results": [plain(a) for a in together] == [plain(b) for b in alone],
        "best_val_batched": max(a["accuracy"] for a in together),
        "best_val_regular": max(r["accuracy"] for r in regular),
        "mean_abs_val_diff_vs_regular": round(sum(diffs) / k, 4),
        "repeats": REPEATS,
        "load_1m": load,
    }


def run(args: Any) -> str:
    import tempfile

    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    stored = out_dir / "batched_heads.json"
    if getattr(args, "objective_only", False) and stored.is_file():  # keep the engine rows
        kept = json.loads(stored.read_text())
        rows = kept["engine"] if isinstance(kept, dict) else kept
    else:
        rows = [measure(k, 20) for k in (4, 16, 64)]
    with tempfile.TemporaryDirectory() as tmp:
        objective_rows = [measure_objective(8, Path(tmp))]
    (out_dir / "batched_heads.json").write_text(
        json.dumps({"engine": rows, "objective": objective_rows}, indent=2)
    )
    lines = [
        "| heads | epochs | batched (s) | one at a time (s) | batched trials/s | "
        "one-at-a-time trials/s | speed-up | same results | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['heads']} | {r['epochs']} | {r['batched_s']} | {r['one_at_a_time_s']} | "
            f"{r['batched_trials_per_s']} | {r['one_at_a_time_trials_per_s']} | "
            f"{r['speedup']}x | {r['same_results']} | {r['load_1m']:.1f} |"
        )
    lines.append("")
    lines.append(
        f"Machine: {os.cpu_count()} cores, shared; torch threads {rows[0]['threads']}. "
        "Float32 on CPU; 2,000 x 384 training features, 500 validation, 2 classes."
    )
    lines += ["", *_objective_table(objective_rows)]
    table = "\n".join(lines)
    (out_dir / "batched_heads.md").write_text(table + "\n")
    return table


def _objective_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "Head trials through the objective (MiniLM features, 600 train / 200 validation texts, "
        "up to 40 epochs, patience 5, batch 64):",
        "",
        "| trials | run_group (s) | one at a time, batched path (s) | one at a time, regular "
        "job (s) | run_group trials/s | batched alone trials/s | regular trials/s | "
        "vs batched alone | vs regular | same results | best val (batched / regular) | "
        "mean abs val diff vs regular | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['trials']} | {r['run_group_s']} | {r['one_at_a_time_batched_s']} | "
            f"{r['one_at_a_time_regular_s']} | {r['run_group_trials_per_s']} | "
            f"{r['one_at_a_time_batched_trials_per_s']} | "
            f"{r['one_at_a_time_regular_trials_per_s']} | {r['speedup_vs_batched_alone']}x | "
            f"{r['speedup_vs_regular']}x | {r['same_results']} | "
            f"{r['best_val_batched']:.4f} / {r['best_val_regular']:.4f} | "
            f"{r['mean_abs_val_diff_vs_regular']} | {r['load_1m']:.1f} |"
        )
    return lines


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument(
        "--objective-only",
        action="store_true",
        help="measure the objective rows only; keep the engine rows stored in the results",
    )
    print(run(p.parse_args()))
