"""Shared helpers of the LoRA and ensemble benchmarks: run ``tunesmith tune`` on a config in a
fresh folder and read back the study it wrote (trials, final record, ensemble record)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _env() -> dict[str, str]:
    # as a user runs them: no thread pinning (benchmarks/run.py pins OMP_NUM_THREADS=1)
    return {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}


def tune(folder: Path, name: str, config: str) -> tuple[Any, float, dict[str, float]]:
    """Run ``tunesmith tune`` on ``config`` in ``folder``; the study, the wall seconds, and the
    1-minute load average before and after."""
    import optuna

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "exp.yaml").write_text(config)
    tunesmith = Path(sys.executable).parent / "tunesmith"
    load = {"before": os.getloadavg()[0]}
    start = time.perf_counter()
    proc = subprocess.run(
        [str(tunesmith), "tune", "exp.yaml", "--no-progress"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )
    seconds = time.perf_counter() - start
    load["after"] = os.getloadavg()[0]
    (folder / "stdout.txt").write_text(proc.stdout + "\n--- stderr\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"tunesmith failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    db = next(Path(folder, "runs").glob("*/study.db"))
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    return study, seconds, load


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per finished search trial: number, state, value, params and trainable share."""
    rows = []
    for t in study.trials:
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "validation": t.value,
                "params": t.params,
                "trainable_fraction": t.user_attrs.get("val_trainable_fraction"),
                "seconds": (
                    (t.datetime_complete - t.datetime_start).total_seconds()
                    if t.datetime_complete and t.datetime_start
                    else None
                ),
            }
        )
    return rows


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def seed_cache(source_run: Path, target_run: Path) -> int:
    """Copy the cached features of one run folder into another's (same data, same base model:
    the same cache keys), so the second run does not compute them again; files copied."""
    src, dst = source_run / "cache" / "features", target_run / "cache" / "features"
    if not src.is_dir():
        return 0
    dst.mkdir(parents=True, exist_ok=True)
    files = [p for p in src.iterdir() if p.is_file()]
    for p in files:
        shutil.copy2(p, dst / p.name)
    return len(files)
