"""Ensembles of exported models: one folder, one loadable model that averages its members.

Folder layout (written atomically like any export; ``MANIFEST.json`` covers every member file)::

    tunesmith_model.json    kind "ensemble", task, labels, the member folders, metrics
    members/00 ...          each member: a complete exported model folder (its own manifest)

:func:`load_model <tunesmith.engine.export.load_model>` returns an :class:`EnsembleModel` for such
a folder: ``predict_proba`` is the mean of the members' probabilities (regression: of their
values), ``predict`` decodes its argmax.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.errors import TunesmithError

KIND = "ensemble"
MEMBERS = "members"


def average(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The members' mean prediction (``[N, C]`` probabilities or ``[N]`` values)."""
    if not probabilities:
        raise ValueError("an ensemble needs at least one member")
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in probabilities]), axis=0)


def export_ensemble(
    path: str | Path, members: Sequence[str | Path], metrics: Mapping[str, Any] | None = None
) -> Path:
    """Copy the exported model folders ``members`` into one ensemble folder at ``path``."""
    from tunesmith.engine.export import FORMAT_VERSION, META, _clean
    from tunesmith.utils.atomic import atomic_directory, verify_manifest

    if len(members) < 2:
        raise TunesmithError(f"an ensemble needs at least 2 members, got {len(members)}")
    metas = []
    for member in members:
        verify_manifest(member)
        metas.append(json.loads((Path(member) / META).read_text(encoding="utf-8")))
    first = metas[0]
    for member, meta in zip(members, metas, strict=True):
        if meta.get("task") != first.get("task") or meta.get("labels") != first.get("labels"):
            raise TunesmithError(
                f"ensemble member {member}: its task or labels differ from {members[0]}'s"
            )
    names = [f"{MEMBERS}/{i:02d}" for i in range(len(members))]
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "task": first["task"],
        "labels": first.get("labels"),
        "num_outputs": first.get("num_outputs"),
        "members": names,
        "metrics": _clean(dict(metrics or {})),
    }
    target = Path(path)
    with atomic_directory(target) as tmp:
        for member, name in zip(members, names, strict=True):
            shutil.copytree(member, tmp / name)
        (tmp / META).write_text(
            json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
        )
    return target


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


def load_ensemble(root: Path, meta: dict[str, Any]) -> EnsembleModel:
    """The members of the (already verified) ensemble folder ``root``, loaded."""
    from tunesmith.engine.export import load_model

    members = [load_model(root / name) for name in meta.get("members") or []]
    if len(members) < 2:
        raise TunesmithError(f"{root}: an ensemble folder lists fewer than 2 members")
    return EnsembleModel(members, meta, root)


def evaluate_ensemble(
    jobs: Sequence[Any], weights: Sequence[str | Path], export_dir: str | Path | None = None
) -> dict[str, Any]:
    """Load the trained members (``jobs[i]`` trained into ``weights[i]``), score them on the
    test split, read once, and optionally export them as one ensemble folder.

    Returns ``{"members": [test metrics of each], "ensemble": test metrics of the mean}``; the
    first member is the single winner. The members must share the data and its preprocessing.
    """
    import tempfile

    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.job import JobPlan, model_preprocessing, run_job
    from tunesmith.engine.loop import _run_over, _to_outputs
    from tunesmith.engine.metrics import compute_metrics
    from tunesmith.errors import ConfigError

    if len(jobs) < 2 or len(jobs) != len(weights):
        raise ConfigError(f"final.ensemble: needs at least 2 trained members, got {len(jobs)}")
    first = jobs[0]
    for job in jobs[1:]:
        if job.data != first.data or model_preprocessing(job) != model_preprocessing(first):
            raise ConfigError(
                "final.ensemble: the members differ in their data or model preprocessing; "
                "rule: an ensemble averages models that read the same inputs"
            )
    with tempfile.TemporaryDirectory(prefix=".ensemble-", dir=_scratch(export_dir)) as tmp:
        loaded = []
        for i, (job, path) in enumerate(zip(jobs, weights, strict=True)):
            plan = JobPlan(load_weights=path, evaluate_test=False, export_dir=_member(tmp, i))
            loaded.append(run_job(job, plan))  # no test split read here
        data = build_data(
            first.data, image_size=first.model.image_size, preprocessing=model_preprocessing(first)
        )
        test_set = data.test()
        if test_set is None:
            raise ConfigError("final.ensemble: there is no test split to score the ensemble on")
        outputs, labels = [], None
        for job, result in zip(jobs, loaded, strict=True):
            assert result.built is not None  # run_job always returns what it built
            raw, labels = _run_over(
                result.model, test_set, result.built.collate_fn, job.train.batch_size,
                job.train.device, "fp32",
            )  # fmt: skip
            outputs.append(_to_outputs(raw, data.task))
        if labels is None:
            raise ConfigError("final.ensemble: the test split carries no labels")
        mean = average(outputs)
        out: dict[str, Any] = {
            "members": [compute_metrics(labels, o, data.task) for o in outputs],
            "ensemble": compute_metrics(labels, mean, data.task),
        }
        if export_dir is not None:
            members = [r.export_path for r in loaded if r.export_path is not None]
            metrics = {"test": out["ensemble"], "winner_test": out["members"][0]}
            out["model_path"] = str(export_ensemble(export_dir, members, metrics))
    return out


def _scratch(export_dir: str | Path | None) -> str | None:
    if export_dir is None:
        return None
    parent = Path(export_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)


def _member(tmp: str, index: int) -> Path:
    return Path(tmp) / f"{index:02d}"
