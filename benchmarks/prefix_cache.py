"""Prefix-cache benchmark: MiniLM on Rotten Tomatoes with ``last_k``, with and without the cache.

The packaged all-MiniLM-L6-v2 (7 layer groups: embeddings + 6 encoder layers) trains the last
``k`` groups and the head on 2,000 Rotten Tomatoes snippets (max_length 64, batch 32, 2 epochs,
``torch.set_num_threads(2)``) through :func:`tunesmith.engine.job.run_job`, once without a feature
cache and once with a fresh in-memory :class:`FeatureCache` (``cold``: the run pays for computing
the prefix), then once more with that cache (``warm``: what the next trial with the same ``k`` in a
worker process sees; the key ignores the trainable suffix and the head). Reported per run: the
time before the first epoch (data, model and, when cached, the prefix pass over train and
validation), each epoch's wall time (training + validation), the validation accuracy per epoch,
and the 1-minute load average before and after (the machine is shared). Runs go off, cold, warm
per ``k``. Each run starts from ``torch.manual_seed(seed)`` (as a fresh worker process does), so
all three must give the same validation accuracy.

Run: ``.venv/bin/python benchmarks/run.py --only prefix_cache`` (``--quick``: 400 snippets, k=1).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


class EpochClock:
    """A callback that records when each epoch starts and when its evaluation ends."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.accuracy: list[float] = []

    def on_epoch_start(self, state: Any) -> None:
        self.starts.append(time.perf_counter())

    def summary(self, total: float, load_before: float) -> dict[str, Any]:
        """Per-epoch seconds and accuracy, the run's total seconds and the load around it."""
        return {
            "epoch_s": [e - s for s, e in zip(self.starts, self.ends, strict=True)],
            "total_s": total,
            "val_accuracy": self.accuracy,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }

    def on_evaluate(self, state: Any) -> Any:
        from tunesmith.engine.callbacks import Decision

        self.ends.append(time.perf_counter())
        self.accuracy.append(float(state.metrics["accuracy"]))
        return Decision()


def job_config(k: int, samples: int, epochs: int) -> Any:
    from tunesmith.config.finetune import FinetuneConfig

    return FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": "packaged:minilm", "pooling": "auto",
                      "max_length": 64, "dropout": 0.1},
            "data": {"builtin": "rotten_tomatoes", "max_train_samples": samples,
                     "split": {"validation": 0.1, "test": 0.1, "seed": 0, "stratify": True}},
            "train": {"epochs": epochs, "batch_size": 32,
                      "optimizer": {"name": "adamw", "lr": 5e-4},
                      "freezing": {"strategy": "last_k", "k": k}},
            "seed": 0,
        }
    )  # fmt: skip


def one_run(k: int, cache: Any, samples: int, epochs: int, label: str) -> dict[str, Any]:

    from tunesmith.engine.freezing import frozen_prefix
    from tunesmith.engine.job import JobPlan, run_job

    cfg = job_config(k, samples, epochs)
    clock = EpochClock()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()  # run_job seeds with cfg.seed: every run gets the same head
    plan = JobPlan(evaluate_test=False)
    result = run_job(cfg, plan, callbacks=[clock], feature_cache=cache)
    total = time.perf_counter() - start
    n_groups = len(result.model.layer_groups())
    return {
        "k": k,
        "cache": label,
        "used_feature_cache": result.used_feature_cache,
        "cache_stop": frozen_prefix(cfg.train.freezing, n_groups, epochs)
        if result.used_feature_cache
        else None,
        "n_groups": n_groups,
        "cache_bytes": cache.bytes if cache is not None else 0,
        "setup_s": clock.starts[0] - start,
        "best_val_accuracy": result.val_metrics["accuracy"],
        **clock.summary(total, load_before),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| k | cache | cached groups | setup s | epoch s | total s | val acc per epoch | load 1m |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cached = f"[0, {r['cache_stop']})" if r["cache_stop"] is not None else "-"
        lines.append(
            f"| {r['k']} | {r['cache']} | {cached} | {r['setup_s']:.1f} | "
            + " / ".join(f"{s:.1f}" for s in r["epoch_s"])
            + f" | {r['total_s']:.1f} | "
            + " / ".join(f"{a:.4f}" for a in r["val_accuracy"])
            + f" | {r['load_before']:.1f} → {r['load_after']:.1f} |"
        )
    for k in sorted({r["k"] for r in rows}):
        off = next(r for r in rows if r["k"] == k and r["cache"] == "off")
        for on in (r for r in rows if r["k"] == k and r["cache"] != "off"):
            speed = sum(off["epoch_s"]) / sum(on["epoch_s"])
            same = off["val_accuracy"] == on["val_accuracy"]
            lines.append(
                f"\nk={k}, cache {on['cache']}: epochs {speed:.2f}x faster "
                f"(whole run {off['total_s'] / on['total_s']:.2f}x); validation accuracy "
                f"{'identical' if same else 'DIFFERS'} in every epoch."
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    import torch

    torch.set_num_threads(2)
    quick = bool(getattr(args, "quick", False))
    samples, ks, epochs = (400, [1], 2) if quick else (2000, [1, 2], 2)
    from tunesmith.engine.feature_cache import FeatureCache

    rows = []
    for k in ks:
        cache = FeatureCache(max_bytes=4 << 30)
        # off; on (cold: pays for the prefix pass); on again (warm: the next trial of a worker)
        for label, c in (("off", None), ("cold", cache), ("warm", cache)):
            rows.append(one_run(k, c, samples, epochs, label))
            print(json.dumps(rows[-1]), flush=True)
    md = table(rows)
    title = "Prefix cache: MiniLM, Rotten Tomatoes, last_k"
    write_results(Path(getattr(args, "results_dir", RESULTS)), "prefix_cache", title, rows, md,
                  samples, epochs)  # fmt: skip
    return md


def write_results(
    out_dir: Path, stem: str, title: str, rows: list[dict[str, Any]], md: str, samples: int,
    epochs: int,
) -> None:  # fmt: skip
    """``<stem>.json`` (meta + runs) and ``<stem>.md`` (title, set-up line, table) in out_dir."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"samples": samples, "epochs": epochs, "batch_size": 32, "max_length": 64,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count()}  # fmt: skip
    (out_dir / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / f"{stem}.md").write_text(
        f"# {title}\n\n"
        f"{samples} training snippets, max_length 64, batch 32, {epochs} epochs, "
        f"{meta['threads']} torch threads on a {meta['cpus']}-core machine.\n\n" + md + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    print(run(parser.parse_args()))
