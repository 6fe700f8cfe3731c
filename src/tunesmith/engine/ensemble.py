"""Ensembles of exported models: one folder, one loadable model that averages its members.

Folder layout (written atomically like any export; ``MANIFEST.json`` covers every member file)::

    tunesmith_model.json    kind "ensemble", task, labels, the member folders, metrics
    members/00 ...          each member: a complete exported model folder (its own manifest)

:func:`load_model <tunesmith.engine.export.load_model>` returns an :class:`EnsembleModel` for such
a folder: ``predict_proba`` is the mean of the members' probabilities (regression: of their
values), ``predict`` decodes its argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import TunesmithError

KIND = "ensemble"
MEMBERS = "members"
#: Written by :func:`tunesmith.engine.export.export_ensemble`; scored by
#: :func:`tunesmith.engine.ensemble_eval.evaluate_ensemble`.


def average(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The members' mean prediction (``[N, C]`` probabilities or ``[N]`` values)."""
    if not probabilities:
        raise ValueError("an ensemble needs at least one member")
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in probabilities]), axis=0)


class EnsembleModel:
    """Exported models whose predictions are averaged; the interface of a loaded model."""

    def __init__(self, members: Sequence[Any], meta: dict[str, Any], path: Path) -> None:
        self.members = list(members)
        self.meta = meta
        self.path = path
        self.task: str = meta["task"]
        self.label_map = self.members[0].label_map

    @property
    def labels(self) -> list[Any] | None:
        return None if self.label_map is None else list(self.label_map.labels)

    def predict_proba(self, inputs: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """The mean of the members' ``predict_proba``."""
        mean = average([m.predict_proba(inputs, batch_size) for m in self.members])
        return mean.astype(np.float32)

    def predict(self, inputs: Sequence[Any], batch_size: int = 64) -> list[Any]:
        out = self.predict_proba(inputs, batch_size)
        if self.label_map is None:
            return [float(v) for v in out]
        return self.label_map.decode(out.argmax(axis=1))


def load_ensemble(root: Path, meta: dict[str, Any], load_member: Any) -> EnsembleModel:
    """The members of the (already verified) ensemble folder ``root``, each loaded with
    ``load_member`` (:func:`tunesmith.engine.export.load_model`)."""
    members = [load_member(root / name) for name in meta.get("members") or []]
    if len(members) < 2:
        raise TunesmithError(f"{root}: an ensemble folder lists fewer than 2 members")
    return EnsembleModel(members, meta, root)
