"""Knowledge distillation: the teacher's outputs on the training set, computed once, and the loss.

A job with a ``distill:`` section trains its model (the student) on
``alpha * T**2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * loss(s, y)``, where ``t``
are the teacher's logits for the example, ``s`` the student's and ``loss`` the job's
``train.loss`` on the true labels ``y``.

The teacher is an exported tunesmith model (:func:`tunesmith.engine.export.load_model`, an
ensemble too), run once over the training set's raw inputs with its *own* preprocessing; its
log-probabilities serve as logits (softmax is unchanged by a per-row shift, so the softened
distribution is the same at every temperature). They are kept in the feature cache under a key
made of the teacher folder's manifest (the sha256 of every file), the training set's fingerprint
and the class order, so a study computes them once for all its trials, workers and phases.

Soft targets travel with the labels: the training set is wrapped so that each batch's
``labels`` become ``[B, 1 + C]`` floats (the class index, then the teacher's logits). The plain,
feature-cache and prefix-cache loaders all carry ``labels`` as they are, so every freezing
strategy sees the right teacher row for each example whatever the batch order; the validation
set is not wrapped and is scored on its plain labels.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.config.distill import DistillConfig
from tunesmith.engine.data.raw import LabelMap
from tunesmith.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from tunesmith.engine.feature_cache import FeatureCache

log = logging.getLogger(__name__)

KEY_VERSION = "teacher-logits/1"
TEACHER = "teacher"
#: Probabilities below this are clipped before the log (a float32 softmax can underflow to 0).
MIN_PROB = 1e-12

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def teacher_fingerprint(path: Path) -> str:
    """sha256 of the teacher folder's ``MANIFEST.json`` (which holds every file's sha256)."""
    manifest = path / "MANIFEST.json"
    if not manifest.is_file():
        raise ConfigError(
            f"distill.teacher: {path} is not an exported tunesmith model folder (no "
            "MANIFEST.json); give the folder a study or `tunesmith finetune` exported"
        )
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def _columns(teacher_labels: Sequence[Any] | None, label_map: LabelMap, path: Path) -> list[int]:
    """For each of the job's classes, the teacher's output column that predicts it."""
    ours = [str(v) for v in label_map.labels]
    theirs = [str(v) for v in teacher_labels or []]
    if sorted(ours) != sorted(theirs):
        raise ConfigError(
            f"distill.teacher: {path} predicts the classes {theirs}, but the job's data has "
            f"{ours}; rule: the teacher must predict the same classes"
        )
    return [theirs.index(v) for v in ours]


def check_teacher(path: Path, label_map: LabelMap | None, modality: str | None) -> list[int]:
    """Check from its ``tunesmith_model.json`` alone that the teacher at ``path`` can teach this
    job (a classifier of the same classes, reading the same kind of input); return, for each of
    the job's classes, the teacher's output column that predicts it."""
    from tunesmith.engine.export import META

    teacher_fingerprint(path)
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"distill.teacher: cannot read {path / META}: {exc}") from None
    if meta.get("task") != "classification" or label_map is None:
        raise ConfigError(
            f"distill.teacher: {path} is a {meta.get('task')} model; distillation needs a "
            "classifier for a classification job"
        )
    theirs = meta.get("modality") or (meta.get("preprocessing") or {}).get("modality")
    known = ("text", "image", "tabular")
    if theirs in known and modality in known and theirs != modality:
        raise ConfigError(
            f"distill.teacher: {path} reads {theirs} inputs, but the job's data is {modality}"
        )
    return _columns(meta.get("labels"), label_map, path)


def _modality(dataset: Any) -> str | None:
    key = getattr(dataset, "input_key", None)
    return {"text": "text", "pixel_values": "image", "inputs": "tabular"}.get(str(key))


def compute_teacher_logits(
    path: Path, dataset: Any, label_map: LabelMap, batch_size: int = 64
) -> torch.Tensor:
    """The teacher's logits (log-probabilities) ``[N, C]`` for ``dataset``'s raw inputs, in
    order, columns in the job's class order."""
    import torch

    from tunesmith.engine.export import load_model

    columns = check_teacher(path, label_map, _modality(dataset))
    teacher = load_model(path)
    inputs: Any = dataset.inputs  # texts, images or an array, as predict_proba takes them
    if not isinstance(inputs, np.ndarray):
        inputs = list(inputs)
    log.info("distill: teacher %s scores %d training examples (once)", path, len(dataset))
    probs = np.asarray(teacher.predict_proba(inputs, batch_size=batch_size))[:, columns]
    return torch.log(torch.as_tensor(probs, dtype=torch.float32).clamp(min=MIN_PROB))


def teacher_key(fingerprint: str, dataset: Any, label_map: LabelMap) -> str:
    """The cache key of one teacher's logits on one dataset."""
    parts = [KEY_VERSION, fingerprint, dataset.fingerprint(), json.dumps(label_map.to_json())]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=20).hexdigest()


def teacher_logits(
    cfg: DistillConfig, dataset: Any, label_map: LabelMap, cache: FeatureCache
) -> tuple[torch.Tensor, str]:
    """The teacher's logits on ``dataset`` from ``cache``, computed (and stored) on a miss;
    also returns the key (it names the soft targets in the wrapped dataset's fingerprint)."""
    import torch

    path = cfg.teacher_path()
    key = teacher_key(teacher_fingerprint(path), dataset, label_map)
    entry = cache.get(key)
    if entry is None or tuple(entry["logits"].shape) != (len(dataset), len(label_map)):
        logits = compute_teacher_logits(path, dataset, label_map)
        entry = {"logits": logits, "labels": torch.as_tensor(np.asarray(dataset.targets))}
        cache.put(key, entry)
    return entry["logits"], key


class DistillDataset:
    """``dataset`` whose examples also carry their row of the teacher's logits."""

    def __init__(self, dataset: Any, logits: torch.Tensor, key: str) -> None:
        if len(dataset) != len(logits):
            raise ValueError(f"{len(dataset)} examples but {len(logits)} teacher rows")
        self.dataset = dataset
        self.logits = logits
        self.key = key
        self.input_key = getattr(dataset, "input_key", "inputs")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.dataset[i], TEACHER: self.logits[i]}

    def fingerprint(self) -> str:
        """The dataset's fingerprint and the soft targets' key: a cache entry of this dataset
        (whose labels hold the soft targets) never serves the plain dataset."""
        h = hashlib.sha256(f"{self.dataset.fingerprint()}|{self.key}".encode())
        return h.hexdigest()

    @property
    def deterministic(self) -> bool:
        return bool(getattr(self.dataset, "deterministic", True))


class DistillCollate:
    """The model's collate function; batches of a :class:`DistillDataset` get ``labels``
    ``[B, 1 + C]`` (class index, then the teacher's logits); other batches are left as they are."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def lengths(self, dataset: Any) -> list[int] | None:
        fn = getattr(self.collate, "lengths", None)
        inner = dataset.dataset if isinstance(dataset, DistillDataset) else dataset
        return fn(inner) if callable(fn) else None

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if not items or TEACHER not in items[0]:
            return self.collate(items)  # type: ignore[no-any-return]
        batch = self.collate([{k: v for k, v in it.items() if k != TEACHER} for it in items])
        soft = torch.stack([torch.as_tensor(it[TEACHER]) for it in items]).float()
        batch["labels"] = torch.cat([batch["labels"].float().unsqueeze(1), soft], dim=1)
        return batch  # type: ignore[no-any-return]


def distill_loss(base: LossFn, temperature: float, alpha: float) -> LossFn:
    """``alpha * T**2 * KL(teacher || student at T) + (1 - alpha) * base(outputs, y)`` on
    labels ``[B, 1 + C]`` (see :class:`DistillCollate`)."""
    import torch.nn.functional as F

    t = float(temperature)

    def loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if labels.dim() != 2:
            raise ValueError("a distillation batch carries the teacher's logits in its labels")
        hard, teacher = labels[:, 0].long(), labels[:, 1:].float()
        student = F.log_softmax(outputs.float() / t, dim=-1)
        target = F.log_softmax(teacher / t, dim=-1)
        soft = F.kl_div(student, target, log_target=True, reduction="batchmean") * (t * t)
        if alpha >= 1.0:
            return soft
        return alpha * soft + (1.0 - alpha) * base(outputs, hard)

    return loss


@dataclass(frozen=True)
class Distillation:
    """What a training run needs to distil: the wrapped training set, and the collate function
    and loss to use with it."""

    dataset: DistillDataset
    cfg: DistillConfig

    def collate(self, collate_fn: Any) -> DistillCollate:
        return DistillCollate(collate_fn)

    def wrap_loss(self, base: LossFn) -> LossFn:
        return distill_loss(base, self.cfg.temperature, self.cfg.alpha)


def prepare_distillation(
    cfg: DistillConfig, train_set: Any, label_map: LabelMap | None, cache: FeatureCache
) -> Distillation:
    """The teacher's soft targets on ``train_set`` (from ``cache`` or computed once)."""
    if label_map is None:
        raise ConfigError("distill: distillation needs a classification task with labels")
    logits, key = teacher_logits(cfg, train_set, label_map, cache)
    return Distillation(DistillDataset(train_set, logits, key), cfg)


def distill_record(cfg: DistillConfig) -> dict[str, Any]:
    """The distillation settings an exported student records in ``tunesmith_model.json``."""
    path = cfg.teacher_path()
    return {
        "teacher": str(path),
        "teacher_manifest_sha256": teacher_fingerprint(path),
        "temperature": cfg.temperature,
        "alpha": cfg.alpha,
    }
