"""GPU shares: each worker's environment names only its devices, and no GPU holds more trials
than its share allows. The device count is faked with TUNESMITH_FAKE_GPU_COUNT (no GPU here)."""

from __future__ import annotations

import os
import time
from collections import defaultdict

import pytest

from tunesmith.errors import ConfigError
from tunesmith.experiment import tune
from tunesmith.runners.devices import FAKE_COUNT_ENV, GpuPool, visible_gpus


def _seen(p):
    """What the worker saw: CUDA_VISIBLE_DEVICES at exec time (/proc/self/environ, so it was set
    before any import ran) and now, whether torch was already imported, and its interval."""
    start = time.time()
    with open("/proc/self/environ", "rb") as fh:
        initial = dict(item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item)
    time.sleep(0.6)
    return {
        "score": p["x"],
        "at_exec": initial.get(b"CUDA_VISIBLE_DEVICES", b"<unset>").decode(),
        "now": os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
        "pid": os.getpid(),
        "start": start,
        "end": time.time(),
    }


def _run(monkeypatch, gpus: int, share: float, workers: int, n: int = 8):
    monkeypatch.setenv(FAKE_COUNT_ENV, str(gpus))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    res = tune(
        _seen,
        {"x": {"type": "float", "low": 0, "high": 1}},
        sampler="random",
        seed=0,
        n_trials=n,
        workers=workers,
        metric="score",
        gpus_per_trial=share,
    )
    return [t.user_attrs for t in res.study.trials]


def _max_overlap(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_half_a_gpu_packs_two_trials_per_device(monkeypatch):
    seen = _run(monkeypatch, gpus=2, share=0.5, workers=6)
    assert len(seen) == 8
    per_device = defaultdict(list)
    for s in seen:
        assert s["at_exec"] == s["now"] and s["at_exec"] in ("0", "1")
        per_device[s["at_exec"]].append((s["start"], s["end"]))
    assert set(per_device) == {"0", "1"}
    for intervals in per_device.values():
        assert _max_overlap(intervals) <= 2
    # recycled after each trial on a GPU by default: one worker per trial
    assert len({s["pid"] for s in seen}) == 8


def test_two_gpus_per_trial_get_disjoint_pairs(monkeypatch):
    seen = _run(monkeypatch, gpus=4, share=2, workers=4, n=6)
    for s in seen:
        assert len(s["at_exec"].split(",")) == 2
    for a in seen:
        for b in seen:
            overlap = a["start"] < b["end"] and b["start"] < a["end"]
            if a is not b and overlap:
                assert not set(a["at_exec"].split(",")) & set(b["at_exec"].split(","))


def test_cpu_only_leaves_the_environment_alone(monkeypatch):
    monkeypatch.delenv(FAKE_COUNT_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    res = tune(
        _seen,
        {"x": {"type": "float", "low": 0, "high": 1}},
        sampler="random",
        n_trials=2,
        workers=1,
        metric="score",
    )
    assert {t.user_attrs["now"] for t in res.study.trials} == {"7"}
    assert len({t.user_attrs["pid"] for t in res.study.trials}) == 1  # no recycling on CPU


def test_pool_never_exceeds_a_share():
    pool = GpuPool(["0", "1"], 0.25)
    assert pool.capacity == 8
    taken = [pool.acquire() for _ in range(8)]
    assert pool.acquire() is None
    assert pool.load() == {"0": 4, "1": 4}
    pool.release(taken[0])  # type: ignore[arg-type]
    assert pool.acquire() == taken[0]
    whole = GpuPool(["0", "1", "2"], 2)
    assert whole.capacity == 1 and whole.acquire() == ["0", "1"] and whole.acquire() is None


def test_too_few_gpus_is_a_config_error(monkeypatch):
    monkeypatch.setenv(FAKE_COUNT_ENV, "1")
    assert visible_gpus() == ["0"]
    with pytest.raises(ConfigError, match="gpus_per_trial is 2 but only 1 GPU"):
        GpuPool(visible_gpus(), 2)
    monkeypatch.setenv(FAKE_COUNT_ENV, "0")
    with pytest.raises(ConfigError, match="no GPU is visible"):
        GpuPool(visible_gpus(), 0.5)


def test_visible_gpus_follow_the_coordinators_own_mask(monkeypatch):
    monkeypatch.delenv(FAKE_COUNT_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]


@pytest.mark.gpu
def test_a_worker_sees_exactly_its_gpu_on_a_real_device():
    import torch

    if not torch.cuda.is_available():
        pytest.fail("the gpu marker needs a CUDA device")

    def objective(p):
        import torch as t

        return {
            "score": p["x"],
            "n": t.cuda.device_count(),
            "mask": os.environ["CUDA_VISIBLE_DEVICES"],
        }

    res = tune(
        objective,
        {"x": {"type": "float", "low": 0, "high": 1}},
        n_trials=2,
        workers=2,
        metric="score",
        gpus_per_trial=0.5,
    )
    assert all(t.user_attrs["n"] == 1 for t in res.study.trials)
