"""The top-3 ensemble against the single winner over 3 study seeds (issue 13).

Target: "the top-3 ensemble's test accuracy against the single winner's, over 3 study seeds".
For each seed, one ``tunesmith tune`` run of a ``make demo``-like study (MiniLM, TPE + median
pruner over head / last_k, learning rate, schedule and dropout) on the split of
``finetune_default`` (2,000 train / 500 validation / 1,000 test, shuffled with seed 0), with
``recheck: {top_k: 3}`` and ``final: {train_on: train, ensemble: 3}``: the ensemble averages the
top 3 re-checked models' probabilities; its test accuracy and the single winner's are read from
``study.user_attrs["ensemble"]``. The study seed sets the sampler's and the jobs' seeds.

Run: ``python benchmarks/run.py --only ensemble [--ensemble-trials 6] [--seeds 0 1 2]``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from finetune_default import write_split
from tune_runs import seed_cache, trial_rows, tune

_DEMO_STRATEGIES = """  train.freezing.strategy: {type: categorical, choices: [head, last_k]}
  train.freezing.k: {type: int, low: 1, high: 2, when: {train.freezing.strategy: last_k}}"""

_CONFIG = """
study:
  name: {name}
  sampler: {{name: tpe, seed: {seed}, options: {{n_startup_trials: 4}}}}
  pruner: {{name: median, options: {{n_startup_trials: 3, n_warmup_steps: 1}}}}
  n_trials: {trials}
  workers: 1
model: {{kind: hf_text, name: "packaged:minilm", max_length: 64, dropout: 0.1}}
data: {{train: {data}/train.csv, validation: {data}/validation.csv, test: {data}/test.csv}}
train:
  epochs: {epochs}
  batch_size: 32
  group_by_length: true
  optimizer: {{name: adamw, lr: 1.0e-3, weight_decay: 0.01}}
  schedule: {{name: linear, warmup_ratio: 0.1}}
  freezing: {{strategy: head}}
seed: {seed}
space:
{strategies}
  train.optimizer.lr: {{type: float, low: 1.0e-4, high: 2.0e-3, log: true}}
  train.schedule.name: {{type: categorical, choices: [constant, linear, cosine]}}
  model.dropout: {{type: float, low: 0.0, high: 0.3}}
recheck: {{top_k: 3, seeds: {recheck_seeds}}}
final: {{train_on: train, ensemble: 3}}
"""


def run_seed(
    seed: int, data: Path, opts: dict[str, Any], work: Path, previous: Path | None
) -> dict[str, Any]:
    name = f"ensemble-s{seed}"
    strategies = _DEMO_STRATEGIES if opts["space"] == "demo" else ""
    config = _CONFIG.format(
        name=name, seed=seed, data=data, strategies=strategies, trials=opts["trials"],
        epochs=opts["epochs"], recheck_seeds=opts["recheck_seeds"],
    )  # fmt: skip
    if previous is not None:  # the same data and encoder: the cached features carry over
        seed_cache(previous, work / name / "runs" / name)
    study, seconds, load = tune(work / name, name, config)
    record = study.user_attrs["ensemble"]
    final = study.user_attrs["final"]
    metric = final["metric"]
    return {
        "seed": seed,
        "n_trials": opts["trials"],
        "ensemble_test": record["test"].get(metric),
        "winner_test": record["winner_test"].get(metric),
        "member_test": [m.get(metric) for m in record["member_test"]],
        "members": record["trials"],
        "final_test": final["test"].get(metric),
        "trials": trial_rows(study),
        "seconds": round(seconds, 1),
        "load_1m": load,
    }


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table(res: dict[str, Any]) -> str:
    runs = res["runs"]
    o = res["options"]
    lines = [
        "# Top-3 ensemble vs the single winner: MiniLM, Rotten Tomatoes",
        "",
        f"Split 2,000 train / 500 validation / 1,000 test (seed 0). Per seed: {o['trials']} "
        f"trials ({SPACE_NOTES[o['space']]}, {o['epochs']} epochs), re-check "
        f"top 3 with {o['recheck_seeds']} extra seed(s), ensemble of the top 3 re-checked "
        "models' search weights. "
        + ("REDUCED RUN: " + res["reduced"] if res.get("reduced") else ""),
        "",
        "| study seed | trials | winner test acc | top-3 ensemble test acc | difference | members "
        "(trials) | member test accs | wall (s) | load 1m before -> after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    diffs = []
    for r in runs:
        diff = r["ensemble_test"] - r["winner_test"]
        diffs.append(diff)
        lines.append(
            f"| {r['seed']} | {r.get('n_trials', o['trials'])} | {_fmt(r['winner_test'])} | "
            f"{_fmt(r['ensemble_test'])} | "
            f"{diff:+.4f} | {r['members']} | {[round(m, 4) for m in r['member_test']]} | "
            f"{r['seconds']:.0f} | {r['load_1m']['before']:.1f} -> {r['load_1m']['after']:.1f} |"
        )
    if runs:
        mean = statistics.mean
        lines.append(
            f"| mean | | {_fmt(mean(r['winner_test'] for r in runs))} | "
            f"{_fmt(mean(r['ensemble_test'] for r in runs))} | {mean(diffs):+.4f} | | | | |"
        )
        better = sum(d > 0 for d in diffs)
        lines += [
            "",
            f"The ensemble beat the single winner on {better} of {len(runs)} seeds "
            f"(mean difference {mean(diffs):+.4f} test accuracy, 1,000 test snippets: one "
            "snippet is 0.001).",
        ]
    lines += ["", "Machine: 2 cores, shared with other work (1-minute load averages above)."]
    return "\n".join(lines) + "\n"


SPACE_NOTES = {
    "demo": "make demo's space with last_k's k in 1-2: head or last_k, learning rate, schedule, "
    "dropout",
    "head": "make demo's space without last_k: head-only trials on cached encoder features, "
    "learning rate, schedule, dropout",
}


def run(args: Any) -> str:
    seeds = list(getattr(args, "seeds", None) or [0, 1, 2])
    trials = int(getattr(args, "ensemble_trials", None) or 6)
    space = getattr(args, "ensemble_space", None) or "demo"
    epochs = 2 if space == "demo" else 10
    opts = {"trials": trials, "space": space, "epochs": epochs, "recheck_seeds": 0}
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"options": opts, "runs": []}
    if trials < 10 or len(seeds) < 3 or space != "demo":
        res["reduced"] = (
            f"{trials} trials per seed (make demo runs 10), space {space!r} "
            f"({SPACE_NOTES[space]}), no extra re-check seed, over seeds {seeds}: a CPU-time "
            "limit on a shared 2-core machine. The cached encoder features of one seed's run "
            "are copied to the next (same data, same encoder): times exclude recomputing them."
        )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_split(work / "data")
        start_cache = getattr(args, "ensemble_cache_from", None)
        previous = Path(start_cache) if start_cache else None  # a run folder with a cache/
        for seed in seeds:
            res["runs"].append(run_seed(seed, work / "data", opts, work, previous))
            previous = work / f"ensemble-s{seed}" / "runs" / f"ensemble-s{seed}"
            (out_dir / "ensemble.json").write_text(json.dumps(res, indent=2, default=str))
            (out_dir / "ensemble.md").write_text(table(res))
    return table(res)


def merge(parts: list[Path], out_dir: Path, note: str) -> str:
    """Join runs of single seeds (each a results folder with ``ensemble.json``) into one table."""
    res: dict[str, Any] = {"runs": []}
    for part in parts:
        one = json.loads((part / "ensemble.json").read_text())
        res.setdefault("options", one["options"])
        for r in one["runs"]:
            res["runs"].append({**r, "n_trials": r.get("n_trials", one["options"]["trials"])})
        if one.get("reduced"):
            res.setdefault("reduced", one["reduced"])
    res["runs"].sort(key=lambda r: r["seed"])
    res["reduced"] = f"{res.get('reduced', '')} {note}".strip()
    (out_dir / "ensemble.json").write_text(json.dumps(res, indent=2, default=str))
    md = table(res)
    (out_dir / "ensemble.md").write_text(md)
    return md
