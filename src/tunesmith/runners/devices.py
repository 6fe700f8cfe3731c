"""GPU shares: which devices each worker sees.

A study with ``gpus_per_trial`` hands every worker its own slice of the machine's GPUs through
``CUDA_VISIBLE_DEVICES``, set in the worker's environment when the process is created (so before
anything in it imports torch). ``gpus_per_trial`` below 1 packs trials: 0.5 gives each GPU two
slots, 0.25 four. Above 1 it must be whole: 2 gives a trial two GPUs of its own.

The devices come from the coordinator's own ``CUDA_VISIBLE_DEVICES`` when it is set, otherwise
from torch's device count. ``TUNESMITH_FAKE_GPU_COUNT`` (an integer) replaces that count: the
test suite uses it to check assignment on machines without a GPU; nothing else should set it.
"""

from __future__ import annotations

import math
import os
from collections import Counter

from tunesmith.errors import ConfigError

FAKE_COUNT_ENV = "TUNESMITH_FAKE_GPU_COUNT"


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out, as ``CUDA_VISIBLE_DEVICES`` entries."""
    fake = os.environ.get(FAKE_COUNT_ENV)
    if fake is not None:
        return [str(i) for i in range(int(fake))]
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


class GpuPool:
    """Slots on devices: ``acquire`` gives a worker its devices, ``release`` takes them back.

    A device holds ``1 / share`` trials when the share is a fraction and one trial otherwise; a
    trial needing ``n`` whole GPUs takes ``n`` free devices. No device ever holds more trials
    than its share allows.
    """

    def __init__(self, devices: list[str], share: float) -> None:
        if share <= 0:
            raise ValueError("share must be > 0")
        need = max(1, math.ceil(share - 1e-9))
        if not devices:
            raise ConfigError(
                f"study.gpus_per_trial is {share:g} but no GPU is visible "
                "(CUDA_VISIBLE_DEVICES empty or no CUDA device); set it to 0 for CPU-only"
            )
        if need > len(devices):
            raise ConfigError(
                f"study.gpus_per_trial is {share:g} but only {len(devices)} GPU(s) are visible"
            )
        self.devices = list(devices)
        self.share = share
        self.per_device = round(1 / share) if share < 1 else 1
        self.need = need
        self._used: Counter[str] = Counter()

    @property
    def capacity(self) -> int:
        """How many trials fit at once."""
        if self.share < 1:
            return len(self.devices) * self.per_device
        return len(self.devices) // self.need

    def acquire(self) -> list[str] | None:
        free = [d for d in self.devices if self._used[d] < self.per_device]
        if self.share < 1:
            # Fill the least used device first: trials spread before they pack.
            free.sort(key=lambda d: (self._used[d], self.devices.index(d)))
            chosen = free[:1]
        else:
            chosen = [d for d in free if self._used[d] == 0][: self.need]
        if len(chosen) < self.need:
            return None
        for d in chosen:
            self._used[d] += 1
        return chosen

    def release(self, devices: list[str]) -> None:
        for d in devices:
            if self._used[d] > 0:
                self._used[d] -= 1

    def load(self) -> dict[str, int]:
        return {d: self._used[d] for d in self.devices}
