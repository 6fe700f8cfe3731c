"""Shared helpers for the fine-tuning search tests: npz data, a tiny model, experiment configs.

Import with ``sys.path`` pointing at this folder (pytest runs with ``--import-mode=importlib``);
:func:`tiny_workdir` also puts :mod:`tinynet` on ``sys.path`` and moves into ``tmp_path``, because
``runs/`` is relative to the current folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

HERE = Path(__file__).resolve().parent
N_FEATURES = 6

MODEL = {
    "kind": "custom",
    "factory": "tinynet:make_net",
    "factory_kwargs": {"in_features": N_FEATURES},
    "head": "fc",
    "groups": ["body", "block"],
    "dropout": 0.0,
}


def _split(rng: np.random.Generator, n: int, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, :2] += (2 * y[:, None] - 1) * 1.2  # two informative features, some overlap
    return x, (1 - y if flip else y)


def write_npz(
    folder: Path, *, n_train: int = 160, n_eval: int = 60, flip_validation: bool = False
) -> dict[str, str]:
    """Train/validation/test npz files (x float32, y 0/1); absolute paths by split name.

    ``flip_validation`` inverts the validation labels: the better the model learns the training
    data, the worse it scores on validation, so its best epoch is its first.
    """
    rng = np.random.default_rng(0)
    paths: dict[str, str] = {}
    for name, n, flip in (
        ("train", n_train, False),
        ("validation", n_eval, flip_validation),
        ("test", n_eval, False),
    ):
        x, y = _split(rng, n, flip)
        path = folder / f"{name}.npz"
        np.savez(path, x=x, y=y)
        paths[name] = str(path)
    return paths


def experiment(
    name: str,
    paths: dict[str, str],
    *,
    space: dict[str, Any] | str | None = None,
    study: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An experiment mapping: tiny custom model, npz data, in-process runner, two re-check seeds."""
    return {
        "study": {
            "name": name,
            "runner": "inprocess",
            "sampler": {"name": "random", "seed": 0},
            "n_trials": 3,
            **(study or {}),
        },
        "space": space
        if space is not None
        else {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}},
        "model": copy.deepcopy(MODEL),
        "data": {"format": "npz", **paths},
        "train": {
            "epochs": 3,
            "batch_size": 32,
            "device": "cpu",
            "optimizer": {"name": "adam", "lr": 0.01},
            **(train or {}),
        },
        "seed": 0,
        "recheck": {"top_k": 2, "seeds": 1},
        **extra,
    }


def load(mapping: dict[str, Any]) -> Any:
    """Validate an experiment mapping as the CLI would (after YAML loading)."""
    from tunesmith.config.experiment import ExperimentConfig
    from tunesmith.config.loader import validate

    return validate(ExperimentConfig, mapping, "test config")


def write_yaml(path: Path, mapping: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return path


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, one per evaluation."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture()
def tiny_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the current folder and :mod:`tinynet` importable.

    No global seeding here: a job seeds itself from its config (``engine.job.run_job``, once per
    fold), so these tests are reproducible whatever the process's RNG state.
    """
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.chdir(tmp_path)
    return tmp_path
