"""Batched head trials against one trial at a time: head-only trials per second.

K head configurations (learning rate, weight decay, dropout, loss drawn at random, seed 0) are
trained on cached-feature-sized inputs (2,000 x 384 training rows, 500 validation rows, 2 classes:
the shape of MiniLM's features on the Rotten Tomatoes split; Gaussian blobs, so no model is
loaded) for a fixed number of epochs, evaluated every epoch:

* ``batched``: one :func:`tunesmith.engine.batched_heads.train_heads` call with all K heads;
* ``one at a time``: K calls with one head each (the same code path, so the ratio is the
  vectorisation's gain alone; a real per-trial run adds tunesmith's per-trial overhead on top).

The heads' results are checked equal between the two runs before any time is reported.
Run: ``python benchmarks/run.py --only batched_heads``.
"""

from __future__ import annotations

import json
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


def run(args: Any) -> str:
    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [measure(k, 20) for k in (4, 16, 64)]
    (out_dir / "batched_heads.json").write_text(json.dumps(rows, indent=2))
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
    table = "\n".join(lines)
    (out_dir / "batched_heads.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    print(run(p.parse_args()))
