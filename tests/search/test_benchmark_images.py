"""The images benchmark's split (the same for tunesmith and the peer) and its verdicts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


images = _load("finetune_images")


def test_split_is_disjoint_complete_and_repeatable(tmp_path: Path) -> None:
    images.write_split(tmp_path / "a")
    images.write_split(tmp_path / "b")
    rows = {}
    for split, (lo, hi) in images.SPLIT.items():
        with (
            np.load(tmp_path / "a" / f"{split}.npz") as a,
            np.load(tmp_path / "b" / f"{split}.npz") as b,
        ):
            assert a["x"].shape == (hi - lo, 8, 8) and a["x"].dtype == np.uint8
            assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["y"], b["y"])
            assert set(a["y"].tolist()) == set(range(10))  # every digit in every split
            rows[split] = {a["x"][i].tobytes() + bytes([a["y"][i]]) for i in range(len(a["y"]))}
    assert sum(hi - lo for lo, hi in images.SPLIT.values()) == 1797
    assert not rows["train"] & rows["test"] and not rows["validation"] & rows["test"]


def _res(ts_times: list[float], ts_test: float, wall: float) -> dict:
    peer_log = [{"t": 50.0, "validation": 0.5}, {"t": 200.0, "validation": 0.9}]
    peer = {
        "best_validation": 0.9,
        "test": 0.88,
        "log": peer_log,
        "timeout": 240.0,
        "search_seconds": 250.0,
        "seconds": 260.0,
        "trials": {"COMPLETE": 2},
        "load_1m_before": 1.0,
        "load_1m": 1.0,
    }
    runs = {}
    for seed, t in enumerate(ts_times):
        runs[str(seed)] = {
            "log": [{"t": t, "validation": 0.95}],
            "best_validation": 0.95,
            "test": ts_test,
            "seconds": wall,
            "timeout": 240.0,
            "trials": {"COMPLETE": 5},
            "arms": {"head": 5},
            "load_1m_before": 1.0,
            "load_1m_after": 1.0,
        }
    return {"peer": peer, "tunesmith": runs}


def test_table_reports_ratios_and_targets_met() -> None:
    table = images._table(_res([10.0, 20.0, 15.0], 0.9, 250.0))
    assert "ratios [20.0, 10.0, 13.3] -> met" in table
    assert "within 0.1 of the peer's search time (25.0 s): 3/3 seeds" in table
    assert "(timeout 240 s): walls [250.0, 250.0, 250.0] -> met" in table
    assert "(0.8800): [0.9, 0.9, 0.9] -> met" in table
    assert "reduced" not in table


def test_table_reports_targets_not_met() -> None:
    table = images._table(_res([40.0], 0.8, 260.0))
    assert "reduced: 1 seed" in table
    assert "ratios [5.0] -> NOT met" in table
    assert "1 of the peer's search time (25.0 s): 0/1 seeds (median time 40.0) -> NOT met" in table
    assert "walls [260.0] -> NOT met" in table
    assert "[0.8] -> NOT met" in table
