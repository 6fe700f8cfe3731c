"""Length-grouped batches: MiniLM on Rotten Tomatoes, ``train.group_by_length`` off and on.

The packaged all-MiniLM-L6-v2 trains on the demo's 2,000 snippets (max_length 64, batch 32,
AdamW lr 5e-4, ``torch.set_num_threads(2)``) for 2 epochs in two settings: ``last_k`` with k=3
over a warm prefix cache (what a demo trial does) and ``full`` (no cache). Each setting runs with
random batches and with length-grouped batches; reported: seconds per epoch (training +
validation), validation accuracy per epoch, the mean padded length of a training batch, and the
1-minute load average (the machine may be shared). Padding only changes how much work a batch
costs, not what it computes, so the accuracy moves only because the batches hold other examples.

Run: ``.venv/bin/python benchmarks/run.py --only group_by_length`` (``--quick``: 400 snippets,
k=3 only).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from prefix_cache import EpochClock, write_results

RESULTS = Path(__file__).resolve().parent / "results"


def job_config(strategy: str, grouped: bool, samples: int, epochs: int) -> Any:
    from tunesmith.config.finetune import FinetuneConfig

    return FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64,
                      "dropout": 0.1},
            "data": {"builtin": "rotten_tomatoes", "max_train_samples": samples,
                     "split": {"validation": 0.1, "test": 0.1, "seed": 0}},
            "train": {"epochs": epochs, "batch_size": 32, "group_by_length": grouped,
                      "optimizer": {"name": "adamw", "lr": 5e-4 if strategy != "full" else 5e-5},
                      "freezing": {"strategy": strategy, "k": 3}},
            "seed": 0,
        }
    )  # fmt: skip


def padded_length(cfg: Any) -> float:
    """Mean padded length of a training batch in the first epoch, as the loader draws it."""
    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.job import model_preprocessing
    from tunesmith.engine.models.registry import build_model
    from tunesmith.engine.sampling import example_lengths, make_loader
    from tunesmith.engine.seeding import make_generator

    data = build_data(cfg.data, preprocessing=model_preprocessing(cfg))
    built = build_model(cfg.model, num_outputs=data.num_outputs)
    lengths = example_lengths(data.train, built.collate_fn)
    assert lengths is not None
    use = lengths if cfg.train.group_by_length else None
    loader = make_loader(data.train, cfg.train.batch_size, built.collate_fn, make_generator(0), use)
    sizes = [b["input_ids"].shape[1] for b in loader]
    return sum(sizes) / len(sizes)


def one_run(strategy: str, grouped: bool, cache: Any, samples: int, epochs: int) -> dict[str, Any]:

    from tunesmith.engine.job import JobPlan, run_job

    cfg = job_config(strategy, grouped, samples, epochs)
    clock = EpochClock()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    plan = JobPlan(evaluate_test=False)
    result = run_job(cfg, plan, callbacks=[clock], feature_cache=cache)
    total = time.perf_counter() - start
    return {
        "strategy": strategy if strategy == "full" else "last_k k=3",
        "grouped": grouped,
        "used_cache": result.used_feature_cache,
        "padded_length": padded_length(cfg),
        **clock.summary(total, load_before),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| training | batches | padded length | epoch s | val acc per epoch | load 1m |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {'grouped' if r['grouped'] else 'random'} | "
            f"{r['padded_length']:.1f} | " + " / ".join(f"{s:.1f}" for s in r["epoch_s"]) + " | "
            + " / ".join(f"{a:.4f}" for a in r["val_accuracy"])
            + f" | {r['load_before']:.1f} → {r['load_after']:.1f} |"
        )  # fmt: skip
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        off, on = (next(r for r in rows if r["strategy"] == strategy and r["grouped"] is g)
                   for g in (False, True))  # fmt: skip
        speed = sum(off["epoch_s"]) / sum(on["epoch_s"])
        lines.append(f"\n{strategy}: epochs {speed:.2f}x faster with grouped batches.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    import torch

    from tunesmith.engine.feature_cache import FeatureCache

    torch.set_num_threads(2)
    quick = bool(getattr(args, "quick", False))
    samples, strategies, epochs = (400, ["last_k"], 1) if quick else (2000, ["last_k", "full"], 2)
    rows = []
    for strategy in strategies:
        cache = FeatureCache(max_bytes=4 << 30) if strategy == "last_k" else None
        if cache is not None:  # warm the prefix cache first: trials after the first find it
            warm = one_run(strategy, False, cache, samples, 1)
            print("warm-up", json.dumps(warm), flush=True)
        for grouped in (False, True):
            rows.append(one_run(strategy, grouped, cache, samples, epochs))
            print(json.dumps(rows[-1]), flush=True)
    md = table(rows)
    title = "Length-grouped batches: MiniLM, Rotten Tomatoes"
    write_results(Path(getattr(args, "results_dir", RESULTS)), "group_by_length", title, rows, md,
                  samples, epochs)  # fmt: skip
    return md


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    print(run(parser.parse_args()))
