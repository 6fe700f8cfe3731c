"""A script read from standard input (``python - <<EOF``) or given with ``-c`` runs its trials in
spawned workers: the workers never try to re-run a ``__main__`` that has no file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import tunesmith

def objective(params):
    return -(params["x"] - 0.5) ** 2

result = tunesmith.tune(
    objective, {"x": {"type": "float", "low": 0, "high": 1}}, n_trials=3, workers=2, seed=0
)
states = sorted({t.state.name for t in result.study.trials})
print("STATES", states, len(result.study.trials))
"""

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _run(args: list[str], stdin: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.mark.parametrize("how", ["stdin", "dash-c"])
def test_a_fileless_main_script_completes_every_trial(how: str, tmp_path: Path) -> None:
    args, stdin = (["-"], SCRIPT) if how == "stdin" else (["-c", SCRIPT], None)
    proc = _run(args, stdin, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "STATES ['COMPLETE'] 3" in proc.stdout, proc.stdout + proc.stderr[-3000:]
