"""Shared test set-up: one torch thread, Ray on loopback, and services required under CI."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):  # noqa: ARG001 - pytest hook signature
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def pytest_collection_modifyitems(config, items):  # noqa: ARG001 - pytest hook signature
    """`gpu` tests need a CUDA device, which neither this machine nor CI has: skip them there
    (benchmarks/gpu_check.sh runs them on a GPU machine)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import pytest

    try:
        import torch

        available = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        available = False
    if not available:
        for item in gpu_items:
            item.add_marker(
                pytest.mark.skip(reason="needs a CUDA device (run benchmarks/gpu_check.sh)")
            )
