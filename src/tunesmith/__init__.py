"""tunesmith: hyperparameter search for fine-tuning pretrained models.

Heavy modules (torch, transformers, optuna, ray) are imported lazily so that ``import tunesmith``
and ``tunesmith --help`` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": ("tunesmith.experiment.api", "run"),
    "tune": ("tunesmith.experiment", "tune"),
    "TuneResult": ("tunesmith.experiment", "TuneResult"),
    "load_model": ("tunesmith.engine.export", "load_model"),
    "finetune": ("tunesmith.engine.job", "run_job"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")
