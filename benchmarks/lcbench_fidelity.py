"""How well an early epoch ranks LCBench configurations: Spearman's rho between the surrogate's
``val_accuracy`` at epoch e and at epoch 52, over 200 random configurations per task (seed 0).

A pruner that decides at epoch e can only be as good as this ranking. Run in the benchmark's
environment: ``PYTHONPATH=src ../venv-lcbench/bin/python benchmarks/lcbench_fidelity.py``;
writes ``results/lcbench_fidelity.md``.
"""

from __future__ import annotations

import statistics
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCHS = (1, 2, 3, 6, 17)


def main() -> str:
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE))
    from lcbench import TASKS
    from lcbench_surrogate import MAX_EPOCH, METRIC, clean, config_space, open_benchmark
    from scipy.stats import spearmanr

    bench = open_benchmark(HERE.parent.parent / "shared/data/yahpo")
    lines = ["| task | " + " | ".join(f"rho(e{e}, e52)" for e in EPOCHS) + " |"]
    lines.append("|---" * (len(EPOCHS) + 1) + "|")
    rhos: dict[int, list[float]] = {e: [] for e in EPOCHS}
    for task in TASKS:
        bench.set_instance(task)
        configs = [clean(c) for c in config_space(0).sample_configuration(200)]

        def at(epoch: int, task: str = task, configs: list = configs) -> list[float]:
            xs = [dict(c, epoch=epoch, OpenML_task_id=task) for c in configs]
            return [float(r[METRIC]) for r in bench.objective_function(xs)]

        final = at(MAX_EPOCH)
        row = []
        for e in EPOCHS:
            rho = float(spearmanr(at(e), final)[0])
            rhos[e].append(rho)
            row.append(f"{rho:.2f}")
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    lines.append(
        "| median | " + " | ".join(f"{statistics.median(rhos[e]):.2f}" for e in EPOCHS) + " |"
    )
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "lcbench_fidelity.md").write_text(
        "# LCBench: rank correlation of an early epoch with epoch 52\n\n"
        "Spearman's rho over 200 random configurations per task (seed 0), surrogate "
        "`val_accuracy`.\n\n" + table
    )
    return table


if __name__ == "__main__":
    print(main())
