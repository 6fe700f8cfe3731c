"""Images: ``space: default`` + ``warm_start: recipes`` against Optuna + a plain torch loop.

EfficientNet-Lite0 (packaged ImageNet weights) on scikit-learn's digits: the 1,797 8x8 images
(grey levels 0-16 scaled to 0-255, as tunesmith's ``digits`` builtin reads them) shuffled with
seed 0 and cut into 1,257 train / 270 validation / 270 test, written to ``.npz`` files both
read, so both see the same split; both upsample to 64 px (bilinear) and scale to [-1, 1]. Run one
after the other in the same benchmark run on this machine:

* ``peer``: ``benchmarks/peers/optuna_torch_images.py`` (TPE + median pruner, plain torch loop,
  AdamW with linear warmup, no caching) for ``--peer-timeout`` seconds (default 240); its best
  validation over wall time and its best model's test score;
* ``tunesmith``: ``tunesmith tune`` with ``model.kind: efficientnet``, ``space: default``,
  ``warm_start: recipes`` and ``study.timeout`` (default 240), no hand-written space, once per
  seed: the whole command's wall time, the best validation over the search's wall time (from each
  trial's completion time), the time until the peer's best validation is reached, and the final
  test accuracy.

Targets (issue 10, as for text): validation >= the peer's best within a tenth of the peer's
search time, and >= 10x faster than the peer to the peer's best (median over seeds); the whole
``study.timeout`` run within timeout + 5 %; final test >= the peer's best configuration on test.
Every number is reported, met or not. The 1-minute load average is recorded before and after
each part (the machine may be shared).

Run: ``python benchmarks/run.py --only finetune_images [--seeds 0 1 2] [--timeout 240]
[--peer-timeout 240]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from finetune_default import _fmt, run_search, time_to  # noqa: E402
from tune_runs import _env  # noqa: E402

SPLIT = {"train": (0, 1257), "validation": (1257, 1527), "test": (1527, 1797)}
IMAGE_SIZE = 64
PEER_FRACTION = 0.1
"""Target: reach the peer's best validation within this fraction of the peer's search time."""


def write_split(folder: Path) -> None:
    """The split as ``train.npz``/``validation.npz``/``test.npz`` (``x`` uint8 N×8×8, ``y``)."""
    import numpy as np

    from tunesmith.engine.data.builtin import digits

    raw = digits()
    order = np.random.default_rng(0).permutation(len(raw.labels))
    x = np.asarray(raw.inputs, dtype=np.uint8)[order]
    y = np.asarray(raw.labels, dtype=np.int64)[order]
    folder.mkdir(parents=True, exist_ok=True)
    for split, (lo, hi) in SPLIT.items():
        np.savez(folder / f"{split}.npz", x=x[lo:hi], y=y[lo:hi])


def run_peer(data: Path, timeout: float, seed: int, work: Path) -> dict[str, Any]:
    out = work / f"peer{seed}.json"
    load = os.getloadavg()[0]
    cmd = [sys.executable, str(HERE / "peers" / "optuna_torch_images.py"), "--data", str(data)]
    cmd += ["--timeout", str(timeout), "--seed", str(seed), "--out", str(out)]
    cmd += ["--image-size", str(IMAGE_SIZE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_env())
    if proc.returncode != 0:
        raise RuntimeError(f"peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["load_1m_before"] = load
    return result


def _config(data: Path, timeout: float, seed: int) -> str:
    return f"""
study: {{name: images-s{seed}, timeout: {timeout}, n_trials: 100000, seed: {seed}}}
model: {{kind: efficientnet, name: efficientnet-lite0, image_size: {IMAGE_SIZE}}}
data: {{train: {data}/train.npz, validation: {data}/validation.npz, test: {data}/test.npz}}
seed: {seed}
space: default
warm_start: recipes
recheck: {{top_k: 2, seeds: 1}}
final: {{train_on: train+validation}}
"""


def run_tunesmith(data: Path, timeout: float, seed: int, work: Path) -> dict[str, Any]:
    return run_search(work / f"ts{seed}", _config(data, timeout, seed), f"images-s{seed}")


def _table(res: dict[str, Any]) -> str:
    peer = res["peer"]
    target = peer["best_validation"]
    peer_t = time_to(peer["log"], target)
    seeds = sorted(res["tunesmith"])
    reduced = " (reduced: 1 seed)" if len(seeds) == 1 else ""
    rows = [
        f"EfficientNet-Lite0 on digits (64 px; 1,257 / 270 / 270){reduced}",
        "",
        "| run | best val | time to peer's best val (s) | test | wall (s) | trials | "
        "load before / after |",
        "|---|---|---|---|---|---|---|",
        f"| peer (Optuna TPE + median, plain torch), {peer['timeout']:.0f} s | "
        f"{_fmt(target)} | {_fmt(peer_t, 1)} | {_fmt(peer['test'])} | "
        f"{peer['seconds']:.1f} | {peer['trials']} | {peer['load_1m_before']:.1f} / "
        f"{peer['load_1m']:.1f} |",
    ]
    ratios, reach, tests, walls = [], [], [], []
    for seed in seeds:
        ts = res["tunesmith"][seed]
        to_peer = time_to(ts["log"], target)
        if to_peer is not None and peer_t is not None:
            ratios.append(peer_t / max(to_peer, 1e-9))
        reach.append(to_peer)
        tests.append(ts["test"])
        walls.append(ts["seconds"])
        rows.append(
            f"| tunesmith default, seed {seed}, timeout {ts['timeout']:.0f} s | "
            f"{_fmt(ts['best_validation'])} | {_fmt(to_peer, 1)} | {_fmt(ts['test'])} | "
            f"{ts['seconds']:.1f} | {ts['trials']} {ts['arms']} | "
            f"{ts['load_1m_before']:.1f} / {ts['load_1m_after']:.1f} |"
        )
    med = statistics.median
    within = [r for r in reach if r is not None]
    all_reached = bool(within) and len(within) == len(reach)
    limit = PEER_FRACTION * peer["search_seconds"]
    lines = ["", "Targets (median over seeds), every one reported met or not:"]
    lines.append(
        f"- val >= peer's best ({_fmt(target)}) within {PEER_FRACTION:g} of the peer's search "
        f"time ({limit:.1f} s): {len([r for r in within if r <= limit])}/{len(reach)} seeds "
        f"(median time {_fmt(med(within), 1) if all_reached else 'never'}) -> "
        f"{'met' if all_reached and med(within) <= limit else 'NOT met'}"
    )
    lines.append(
        f"- >= 10x faster than the peer to the peer's best validation (peer: "
        f"{_fmt(peer_t, 1)} s): ratios {[round(r, 1) for r in ratios]} -> "
        f"{'met' if len(ratios) == len(reach) and med(ratios) >= 10 else 'NOT met'}"
    )
    timeout = max(ts["timeout"] for ts in res["tunesmith"].values())
    lines.append(
        f"- whole run within {timeout * 1.05:.0f} s (timeout {timeout:.0f} s): walls {walls} -> "
        f"{'met' if max(walls) <= timeout * 1.05 else 'NOT met'}"
    )
    ok = peer["test"] is not None and all(t is not None and t >= peer["test"] for t in tests)
    lines.append(
        f"- final test >= peer's best configuration on test ({_fmt(peer['test'])}): "
        f"{[round(t, 4) for t in tests]} -> {'met' if ok else 'NOT met'}"
    )
    lines.append("")
    lines.append(
        f"Machine: {os.cpu_count()} cores, shared (1-minute load averages in the table). "
        "Times to a validation score count from the first trial's start (tunesmith) or the "
        "study's start (peer); tunesmith's are trial completion times, the peer's epoch ends."
    )
    return "\n".join(rows + lines)


def run(args: Any) -> str:
    seeds = getattr(args, "seeds", None) or [0, 1, 2]
    timeout = float(getattr(args, "timeout", None) or 240)
    peer_timeout = float(getattr(args, "peer_timeout", None) or 240)
    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"tunesmith": {}, "split": SPLIT, "image_size": IMAGE_SIZE}
    with tempfile.TemporaryDirectory(prefix="tunesmith-images-") as tmp:
        work = Path(tmp)
        write_split(work / "data")
        res["peer"] = run_peer(work / "data", peer_timeout, 0, work)
        res["peer"]["timeout"] = peer_timeout
        for seed in seeds:
            ts = run_tunesmith(work / "data", timeout, seed, work)
            ts["timeout"] = timeout
            res["tunesmith"][str(seed)] = ts
            (out_dir / "finetune_images.json").write_text(json.dumps(res, indent=2, default=str))
            (out_dir / "finetune_images.md").write_text(_table(res) + "\n")  # after each seed
    table = _table(res)
    (out_dir / "finetune_images.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="*", type=int)
    p.add_argument("--timeout", type=float)
    p.add_argument("--peer-timeout", type=float)
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    print(run(p.parse_args()))
