"""Save a fine-tuned model to a folder, and load it back for prediction.

Folder layout (written atomically: built in a temporary sibling folder, every file fsynced, a
checksummed ``MANIFEST.json`` written, then renamed into place)::

    model.safetensors       all weights (backbone + head); never pickle. A model with LoRA
                            adapters (``train.freezing.strategy: lora``) saves only the adapters
                            and the head, and ``tunesmith_model.json`` names the base model in
                            ``lora.base`` (rebuilt from it on load); ``merge_lora=True`` folds
                            the adapters into the base weights and saves a plain model instead
    tunesmith_model.json    format version, the model config (with build-time resolutions such as
                            pooling), task, label map, preprocessing, metrics, hyperparameters
    backbone/               tokenizer files and the backbone's config (text models), so a reload
                            needs neither the hub nor the original checkpoint
    MANIFEST.json           relative path, size and sha256 of every file

:func:`load_model` verifies the manifest before reading anything, rebuilds the architecture
without pretrained weights and loads the saved weights strictly.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.config.data import DataConfig, ImageConfig
from tunesmith.config.model import ModelConfig
from tunesmith.engine.data.raw import LabelMap
from tunesmith.engine.models.base import BuiltModel
from tunesmith.errors import DataError, TunesmithError
from tunesmith.utils.atomic import atomic_directory, verify_manifest

if TYPE_CHECKING:
    from tunesmith.engine.ensemble import EnsembleModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "tunesmith_model.json"
BACKBONE = "backbone"


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples lists, NumPy scalars Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def export_model(
    path: str | Path,
    built: BuiltModel,
    *,
    model_cfg: ModelConfig,
    data_cfg: DataConfig,
    task: str,
    label_map: LabelMap | None,
    preprocessing: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    merge_lora: bool = False,
    distill: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model folder at ``path`` atomically and return ``path``; ``distill``: the
    settings a distilled model was trained with (recorded under ``distill``)."""
    from safetensors.torch import save_file

    from tunesmith.engine.lora import has_lora, lora_settings, lora_state
    from tunesmith.engine.lora import merge_lora as merge

    target = Path(path)
    adapters = has_lora(built.model)
    if merge_lora and not adapters:
        raise TunesmithError("merge_lora: the model has no LoRA adapters to merge")
    resolved = model_cfg.model_copy(update=built.resolved)
    meta = {
        "format_version": FORMAT_VERSION,
        "model": resolved.model_dump(mode="json"),
        "modality": built.modality,
        "task": task,
        "labels": None if label_map is None else label_map.to_json(),
        "num_outputs": 1 if label_map is None else len(label_map),
        "preprocessing": _clean(dict(preprocessing)),
        "image": data_cfg.image.model_dump(mode="json"),
        "metrics": _clean(dict(metrics or {})),
        "hyperparameters": _clean(dict(hyperparameters or {})),
    }
    if distill is not None:
        meta["distill"] = _clean(dict(distill))
    model = built.model
    if adapters and merge_lora:
        import copy

        model = merge(copy.deepcopy(model))
    elif adapters:
        meta["lora"] = {**lora_settings(model), "base": model_cfg.resolved_name}
    tensors = lora_state(model) if "lora" in meta else model.state_dict()
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_directory(target) as tmp:
        save_file(_dedupe(state), str(tmp / WEIGHTS), metadata={"format": "pt"})
        if built.tokenizer is not None or built.backbone_config is not None:
            (tmp / BACKBONE).mkdir()
            if built.tokenizer is not None:
                built.tokenizer.save_pretrained(str(tmp / BACKBONE))
            if built.backbone_config is not None:
                built.backbone_config.save_pretrained(str(tmp / BACKBONE))
        (tmp / META).write_text(
            json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
        )
    log.info("exported model to %s", target)
    return target


def _dedupe(state: dict[str, Any]) -> dict[str, Any]:
    """safetensors refuses shared storage: give tied tensors their own copy."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in seen and v.numel() else v
        seen.add(ptr)
    return out


class LoadedModel:
    """A fine-tuned model ready for prediction; labels come back as in the training data."""

    def __init__(self, built: BuiltModel, meta: dict[str, Any], path: Path) -> None:
        self.built = built
        self.model = built.model.train(False)
        self.meta = meta
        self.path = path
        self.task: str = meta["task"]
        labels = meta.get("labels")
        self.label_map = LabelMap.from_json(labels) if labels is not None else None

    @property
    def labels(self) -> list[Any] | None:
        return None if self.label_map is None else list(self.label_map.labels)

    def _dataset(self, inputs: Sequence[Any]) -> Any:
        from tunesmith.engine.data.datasets import ImageDataset, TabularDataset, TextDataset
        from tunesmith.engine.data.transforms import ImageTransform

        items = list(inputs) if not isinstance(inputs, np.ndarray) else inputs
        dummy = np.zeros(len(items), dtype=np.int64)
        pre = self.meta.get("preprocessing", {})
        modality = pre.get("modality", self.meta.get("modality"))
        if modality == "text":
            if not all(isinstance(t, str) for t in items):
                raise DataError("predict: this text model takes a list of strings")
            return TextDataset(items, dummy, pre)
        if modality == "tabular":
            return TabularDataset(np.asarray(items, dtype=np.float32), dummy, pre)
        image_cfg = ImageConfig.model_validate(self.meta.get("image", {}))
        transform = ImageTransform(
            int(pre.get("image_size", 64)), image_cfg, None, float(pre.get("value_scale", 1.0))
        )
        return ImageDataset([_as_image(x) for x in items], dummy, pre, transform)

    def predict_proba(self, inputs: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``[N, C]`` (columns in :attr:`labels` order); regression: ``[N]``."""
        from tunesmith.engine.loop import predict

        if len(inputs) == 0:
            return np.zeros((0, len(self.label_map or ())), dtype=np.float32)
        dataset = self._dataset(inputs)
        collate = _without_labels(self.built.collate_fn)
        return predict(
            self.model, dataset, collate_fn=collate, task=self.task, batch_size=batch_size,
            device="cpu",
        )  # fmt: skip

    def predict(self, inputs: Sequence[Any], batch_size: int = 64) -> list[Any]:
        """Original labels (classification) or values (regression), one per input."""
        out = self.predict_proba(inputs, batch_size)
        if self.label_map is None:
            return [float(v) for v in out]
        return self.label_map.decode(out.argmax(axis=1))


class _without_labels:  # noqa: N801 - a picklable function-like wrapper
    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.collate([{k: v for k, v in it.items() if k != "labels"} for it in items])


def _as_image(x: Any) -> np.ndarray:
    """Images given as arrays, PIL images or file paths."""
    if isinstance(x, (str, Path)):
        from tunesmith.engine.data.images import load_image

        return load_image(Path(x))
    if hasattr(x, "convert"):  # a PIL image
        return np.asarray(x.convert("RGB"), dtype=np.uint8)
    return np.asarray(x)


def load_model(path: str | Path) -> LoadedModel | EnsembleModel:
    """Load an exported folder after checking every file against its manifest.

    A :class:`LoadedModel`, or for an ensemble folder an
    :class:`~tunesmith.engine.ensemble.EnsembleModel` (the same prediction interface)."""
    from safetensors.torch import load_file

    from tunesmith.engine.models.registry import build_model

    root = Path(path)
    verify_manifest(root)
    try:
        meta = json.loads((root / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TunesmithError(f"{root}: cannot read {META}: {exc}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise TunesmithError(
            f"{root}: model format {meta.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    if meta.get("kind") == "ensemble":  # tunesmith.engine.ensemble.KIND
        from tunesmith.engine.ensemble import load_ensemble

        return load_ensemble(root, meta, load_model)
    model_data = dict(meta["model"])
    lora = meta.get("lora")
    if lora is not None:  # adapters and head only: the base model's weights come from its source
        model_data.update(name=lora["base"], pretrained=True)
    else:
        if (root / BACKBONE).is_dir():
            model_data["name"] = str(root / BACKBONE)
        model_data.update(pretrained=False, weights=None)
    cfg = ModelConfig.model_validate(model_data)
    built = build_model(cfg, num_outputs=int(meta["num_outputs"]))
    state = load_file(str(root / WEIGHTS))
    if lora is None:
        built.model.load_state_dict(state, strict=True)
    else:
        _load_adapters(built.model, lora, state, root)
    return LoadedModel(built, meta, root)


def _load_adapters(model: Any, lora: Mapping[str, Any], state: dict[str, Any], root: Path) -> None:
    from tunesmith.config.train import LoraConfig
    from tunesmith.engine.lora import apply_lora, lora_state

    settings = {k: v for k, v in lora.items() if k != "base"}
    apply_lora(model, LoraConfig.model_validate(settings))
    expected = set(lora_state(model))
    if set(state) != expected:
        raise TunesmithError(
            f"{root}: {WEIGHTS} does not hold the adapters and head of {lora['base']!r} "
            f"(missing {sorted(expected - set(state))[:3]}, "
            f"extra {sorted(set(state) - expected)[:3]})"
        )
    model.load_state_dict(state, strict=False)


def export_ensemble(
    path: str | Path, members: Sequence[str | Path], metrics: Mapping[str, Any] | None = None
) -> Path:
    """Copy the exported model folders ``members`` into one ensemble folder at ``path``."""
    import shutil

    from tunesmith.engine.ensemble import KIND, MEMBERS

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
