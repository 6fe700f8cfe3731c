"""The GPU check (issue 11): GPU shares, bf16/fp16 fine-tuning, memory between trials, GPU vs CPU.

Needs one CUDA GPU; `benchmarks/gpu_check.sh` runs it with the `gpu` tests, within 8 minutes.
1. packing: 8 trials, 4 workers, ``gpus_per_trial: 0.5`` → at most 2 trials at once on the GPU,
   each worker seeing exactly one device (its CUDA_VISIBLE_DEVICES at exec time);
2. memory: 3 trials in a row (``gpus_per_trial: 1``, a worker recycled after each trial) each
   holding 1 GiB on the GPU; ``nvidia-smi`` memory.used after each trial against the baseline;
3. MiniLM (packaged) fine-tuned 1 epoch, all layers, with bf16 and with fp16 autocast;
4. the same full fine-tuning epoch in fp32 on the GPU and on the CPU (seconds, and the ratio).

``--cpu-smoke`` runs parts 3-4 on the CPU with a few dozen examples (checks the script itself on
a machine without a GPU; its numbers mean nothing). Writes ``results/gpu_check.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _gpu_memory_mb() -> float:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[0])


def _share_trial(p: dict[str, Any]) -> dict[str, Any]:
    import torch

    start = time.time()
    with open("/proc/self/environ", "rb") as fh:
        env0 = dict(i.split(b"=", 1) for i in fh.read().split(b"\0") if b"=" in i)
    x = torch.ones(256, 2**20 // 4, device="cuda")  # 256 MiB
    time.sleep(1.5)
    mask = env0.get(b"CUDA_VISIBLE_DEVICES", b"").decode()
    return {"score": float(x[0, 0]) * p["x"], "mask": mask,
            "devices": torch.cuda.device_count(), "start": start, "end": time.time()}  # fmt: skip


def _hold_gib(p: dict[str, Any]) -> float:
    import torch

    x = torch.ones(2**30 // 4, device="cuda")
    torch.cuda.synchronize()
    return float(x[0]) * p["x"]


def packing() -> dict[str, Any]:
    from tunesmith.experiment import tune

    res = tune(_share_trial, {"x": {"type": "float", "low": 0, "high": 1}}, n_trials=8, workers=4,
               metric="score", gpus_per_trial=0.5, sampler="random", seed=0)  # fmt: skip
    seen = [t.user_attrs for t in res.study.trials]
    events = sorted([(s["start"], 1) for s in seen] + [(s["end"], -1) for s in seen])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return {
        "trials": len(seen),
        "complete": sum(t.state.name == "COMPLETE" for t in res.study.trials),
        "max_at_once": peak,
        "devices_seen_per_trial": sorted({s["devices"] for s in seen}),
        "masks": sorted({s["mask"] for s in seen}),
        "ok": peak <= 2 and {s["devices"] for s in seen} == {1},
    }


def memory_between_trials() -> dict[str, Any]:
    from tunesmith.experiment import tune

    baseline = _gpu_memory_mb()
    after: list[float] = []

    def on_event(event: Any) -> None:
        if event.kind == "trial_finished":
            time.sleep(0.5)  # the recycled worker has exited; let the driver settle
            after.append(_gpu_memory_mb())

    tune(_hold_gib, {"x": {"type": "float", "low": 0, "high": 1}}, n_trials=3, workers=1,
         gpus_per_trial=1, on_event=on_event, sampler="random", seed=0)  # fmt: skip
    worst = max(after) - baseline if after else float("nan")
    return {"baseline_mb": baseline, "after_each_trial_mb": after, "worst_excess_mb": worst,
            "ok": len(after) == 3 and worst < 64}  # fmt: skip


def finetune_config(precision: str, device: str, samples: int) -> Any:
    from tunesmith.config.finetune import FinetuneConfig

    return FinetuneConfig.model_validate(
        {
            "model": {"kind": "hf_text", "name": "packaged:minilm", "max_length": 64,
                      "dropout": 0.1},
            "data": {"builtin": "rotten_tomatoes", "max_train_samples": samples,
                     "split": {"validation": 0.1, "test": 0.1, "seed": 0}},
            "train": {"epochs": 1, "batch_size": 32, "precision": precision, "device": device,
                      "optimizer": {"name": "adamw", "lr": 5e-5},
                      "freezing": {"strategy": "full"}},
            "seed": 0,
        }
    )  # fmt: skip


def one_epoch(precision: str, device: str, samples: int) -> dict[str, Any]:
    from tunesmith.engine.job import JobPlan, run_job

    start = time.perf_counter()
    result = run_job(finetune_config(precision, device, samples), JobPlan())
    seconds = time.perf_counter() - start
    acc = float(result.val_metrics.get("accuracy", float("nan")))
    return {"precision": precision, "device": device, "samples": samples,
            "seconds": round(seconds, 2), "val_accuracy": round(acc, 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if args.cpu_smoke:
        out["precision"] = [one_epoch("fp32", "cpu", 40)]
        print(json.dumps(out, indent=2))
        return 0
    import torch

    out["gpu"] = torch.cuda.get_device_name(0)
    out["packing"] = packing()
    out["memory"] = memory_between_trials()
    out["precision"] = [one_epoch(p, "cuda", args.samples) for p in ("bf16", "fp16")]
    gpu = one_epoch("fp32", "cuda", args.samples)
    cpu = one_epoch("fp32", "cpu", args.samples)
    out["full_epoch"] = {
        "gpu": gpu,
        "cpu": cpu,
        "cpu_over_gpu": round(cpu["seconds"] / gpu["seconds"], 1),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "gpu_check.json").write_text(json.dumps(out, indent=2) + "\n")
    pack, mem = out["packing"], out["memory"]
    lines = [f"# GPU check on {out['gpu']}", "",
             f"- packing (0.5 GPU per trial, 4 workers): max {pack['max_at_once']} at "
             f"once, devices seen per trial {pack['devices_seen_per_trial']}: "
             f"{'ok' if pack['ok'] else 'NOT ok'}",
             f"- memory after each trial vs baseline: worst +{mem['worst_excess_mb']:.0f} MB: "
             f"{'ok' if mem['ok'] else 'NOT ok'}", "",
             "| run | device | precision | samples | seconds | val accuracy |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in [*out["precision"], gpu, cpu]:
        lines.append(f"| full fine-tuning, 1 epoch | {r['device']} | {r['precision']} | "
                     f"{r['samples']} | {r['seconds']} | {r['val_accuracy']} |")  # fmt: skip
    lines.append(f"\nCPU / GPU time for the fp32 epoch: {out['full_epoch']['cpu_over_gpu']}x")
    (args.results_dir / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
