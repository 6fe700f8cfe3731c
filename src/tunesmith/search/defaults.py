"""Default search spaces and known-good recipes for each model family.

``space: default`` in an experiment config picks the space of the model's family; ``warm_start:
recipes`` runs the family's published recipes before the sampler takes over. Both are plain data
(dotted config paths to parameter specs or values) so that a user can copy and edit them.

The spaces are strategy-aware: ``train.optimizer.lr@head`` / ``@last_k`` / ``@full`` give each
freezing strategy its own learning-rate range (the ``@`` tag names the variant; the value is
written at ``train.optimizer.lr``). Head-only trials train up to :data:`HEAD_EPOCHS` epochs on the
cached features with early stopping on validation, i.e. to convergence; deeper text trials train
:data:`DEEP_EPOCHS` epochs, evaluated every epoch (epochs are a fidelity, not a parameter).

Sources of the recipes:

* text encoders, partial fine-tuning first (the cheapest recipe that trains more than the head):
  the top :data:`PARTIAL_K` transformer layers and the head, AdamW at 3e-4 (ten times the BERT
  grid's middle rate: fewer, higher layers trained from a pretrained start tolerate and need a
  larger step, the same rule of thumb as LoRA's rates), weight decay 0.01, linear decay after a
  10% warmup, batch 32. It is also the geometric middle of the default space's last-k range;
* text encoders (BERT-like): the fine-tuning grid of the BERT paper (Devlin et al., 2019,
  appendix A.3): learning rate in {2e-5, 3e-5, 5e-5}, batch size in {16, 32}, 2 to 4 epochs, Adam
  with weight decay 0.01 and linear decay after a 10% warmup, all layers trained;
* CNNs: the usual ImageNet transfer recipe, SGD with momentum 0.9 and Nesterov, learning rate
  0.01, weight decay 1e-4, cosine annealing, all layers trained.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.utils.registry import Registry

HEAD_EPOCHS = 40
"""Epochs a head-only trial may train on cached features (milliseconds each); early stopping on
validation (:data:`HEAD_PATIENCE`) ends it once converged, and its best epoch is recorded."""
HEAD_PATIENCE = 5
DEEP_EPOCHS = 4
"""Epochs of a deeper text trial: the longest of the BERT grid's 2-4, evaluated every epoch (the
epoch count is a fidelity: the best epoch is recorded and the final run trains for it)."""

_HEAD = {"train.freezing.strategy": ["head"]}
_LAST_K = {"train.freezing.strategy": ["last_k"]}
_FULL = {"train.freezing.strategy": ["full"]}
_LORA = {"train.freezing.strategy": ["lora"]}
_DEEP = {"train.freezing.strategy": ["last_k", "full", "lora"]}

# Each freezing strategy has its own learning-rate range: a linear head on frozen features wants
# rates one to two orders of magnitude above full fine-tuning (whose BERT grid is 2e-5-5e-5), and
# LoRA adapters about ten times full fine-tuning's. LoRA searches the rank, the adapted layers and
# the adapter dropout; alpha is tied to the rank (``train.lora.alpha`` left null: alpha = 2r).
_TEXT_SPACE: dict[str, dict[str, Any]] = {
    "train.freezing.strategy": {
        "type": "categorical",
        "choices": ["head", "last_k", "full", "lora"],
    },
    "train.freezing.k": {"type": "int", "low": 1, "high": 4, "when": _LAST_K},
    "train.optimizer.lr@head": {
        "type": "float",
        "low": 3e-4,
        "high": 5e-2,
        "log": True,
        "when": _HEAD,
    },
    "train.optimizer.lr@last_k": {
        "type": "float",
        "low": 5e-5,
        "high": 2e-3,
        "log": True,
        "when": _LAST_K,
    },
    "train.optimizer.lr@full": {
        "type": "float",
        "low": 1e-5,
        "high": 1e-4,
        "log": True,
        "when": _FULL,
    },
    "train.optimizer.lr@lora": {
        "type": "float",
        "low": 1e-4,
        "high": 1e-3,
        "log": True,
        "when": _LORA,
    },
    "train.lora.r": {"type": "categorical", "choices": [4, 8, 16], "when": _LORA},
    "train.lora.targets": {
        "type": "categorical",
        "choices": ["attention", "all_linear"],
        "when": _LORA,
    },
    "train.lora.dropout": {"type": "categorical", "choices": [0.0, 0.1], "when": _LORA},
    # Larger batches for the head: fewer steps per epoch over the cached features.
    "train.batch_size@head": {"type": "categorical", "choices": [32, 64, 128], "when": _HEAD},
    "train.batch_size@deep": {"type": "categorical", "choices": [16, 32], "when": _DEEP},
    "train.epochs@head": {"type": "fixed", "value": HEAD_EPOCHS, "when": _HEAD},
    "train.early_stopping.patience@head": {"type": "fixed", "value": HEAD_PATIENCE, "when": _HEAD},
    "train.epochs@deep": {"type": "fixed", "value": DEEP_EPOCHS, "when": _DEEP},
    "train.optimizer.weight_decay": {"type": "categorical", "choices": [0.0, 0.01, 0.1]},
    "train.schedule.name": {"type": "categorical", "choices": ["constant", "linear", "cosine"]},
    "train.schedule.warmup_ratio": {"type": "categorical", "choices": [0.0, 0.1]},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.3},
}

_CNN_SPACE: dict[str, dict[str, Any]] = {
    "train.freezing.strategy": {"type": "categorical", "choices": ["head", "last_k", "full"]},
    "train.freezing.k": {"type": "int", "low": 1, "high": 4, "when": _LAST_K},
    "train.optimizer.name": {"type": "categorical", "choices": ["sgd", "adamw"]},
    "train.optimizer.lr@head": {
        "type": "float",
        "low": 1e-3,
        "high": 1e-1,
        "log": True,
        "when": _HEAD,
    },
    "train.optimizer.lr@last_k": {
        "type": "float",
        "low": 3e-4,
        "high": 3e-2,
        "log": True,
        "when": _LAST_K,
    },
    "train.optimizer.lr@full": {
        "type": "float",
        "low": 1e-4,
        "high": 1e-2,
        "log": True,
        "when": _FULL,
    },
    "train.optimizer.momentum": {
        "type": "float",
        "low": 0.8,
        "high": 0.99,
        "when": {"train.optimizer.name": ["sgd"]},
    },
    "train.optimizer.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "train.epochs@head": {"type": "fixed", "value": HEAD_EPOCHS, "when": _HEAD},
    "train.early_stopping.patience@head": {"type": "fixed", "value": HEAD_PATIENCE, "when": _HEAD},
    "train.schedule.name": {"type": "categorical", "choices": ["constant", "cosine"]},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


# Added to either family's default space when the job has a ``distill`` section: the
# temperature that softens the teacher's outputs (Hinton et al., 2015, use 1-20; 2-8 is the usual
# range for classifiers) and the weight of the soft targets against the true labels.
_DISTILL_SPACE: dict[str, dict[str, Any]] = {
    "distill.temperature": {"type": "float", "low": 1.0, "high": 8.0, "log": True},
    "distill.alpha": {"type": "float", "low": 0.1, "high": 0.9},
}


PARTIAL_K = 2
"""Layers the partial fine-tuning recipe trains (of 6 in MiniLM, 12 in BERT-base)."""


def _partial_recipes() -> list[dict[str, Any]]:
    return [
        {
            "train.freezing.strategy": "last_k",
            "train.freezing.k": PARTIAL_K,
            "train.optimizer.name": "adamw",
            "train.optimizer.lr": 3e-4,
            "train.optimizer.weight_decay": 0.01,
            "train.batch_size": 32,
            "train.epochs": DEEP_EPOCHS,
            "train.schedule.name": "linear",
            "train.schedule.warmup_ratio": 0.1,
        }
    ]


def _bert_recipes() -> list[dict[str, Any]]:
    # The paper's middle setting first: if the budget only allows one recipe, it is the usual one.
    lrs = [3e-5, 2e-5, 5e-5]
    batch_sizes = [32, 16]
    epochs = [3, 2, 4]
    out = []
    for lr, bs, ep in itertools.product(lrs, batch_sizes, epochs):
        out.append(
            {
                "train.freezing.strategy": "full",
                "train.optimizer.name": "adamw",
                "train.optimizer.lr": lr,
                "train.optimizer.weight_decay": 0.01,
                "train.batch_size": bs,
                "train.epochs": ep,
                "train.schedule.name": "linear",
                "train.schedule.warmup_ratio": 0.1,
            }
        )
    return out


def _cnn_recipes() -> list[dict[str, Any]]:
    return [
        {
            "train.freezing.strategy": "full",
            "train.optimizer.name": "sgd",
            "train.optimizer.lr": lr,
            "train.optimizer.momentum": 0.9,
            "train.optimizer.nesterov": True,
            "train.optimizer.weight_decay": 1e-4,
            "train.batch_size": 32,
            "train.schedule.name": "cosine",
        }
        for lr in (0.01, 0.003)
    ]


FAMILIES: Registry[str] = Registry(
    "model kind with a default space",
    {
        "hf_text": "text",
        "efficientnet": "cnn",
        "torchvision": "cnn",
        "timm": "cnn",
        "custom": "cnn",
    },
)

DEFAULT_SPACES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {"text": MappingProxyType(_TEXT_SPACE), "cnn": MappingProxyType(_CNN_SPACE)}
)
DISTILL_SPACE: Mapping[str, Mapping[str, Any]] = MappingProxyType(_DISTILL_SPACE)


def family_of(model_kind: str) -> str:
    """The model family (``text`` or ``cnn``) of a ``model.kind`` value."""
    return FAMILIES.lookup(model_kind, where="model.kind")


def default_space(model_kind: str, distill: bool = False) -> dict[str, dict[str, Any]]:
    """A fresh, editable copy of the default space for the model's family; ``distill``: the
    job distils from a teacher, so its temperature and alpha are searched too."""
    space = dict(DEFAULT_SPACES[family_of(model_kind)])
    if distill:
        space.update(DISTILL_SPACE)
    return {name: dict(spec) for name, spec in space.items()}


def recipes(model_kind: str) -> list[dict[str, Any]]:
    """The family's known-good recipes, most trusted first, as dotted-path overrides."""
    family = family_of(model_kind)
    return _partial_recipes() + _bert_recipes() if family == "text" else _cnn_recipes()


def resolve_space(space: Any, model_kind: str | None = None, distill: bool = False) -> Any:
    """The space an experiment searches, ready for :meth:`SearchSpace.from_config`.

    ``space`` is the experiment's ``space`` section: a space config (returned as it is) or
    ``"default"``, which picks the default space of ``model_kind``'s family. Only a fine-tuning
    experiment has a model, so only it can ask for the default; ``distill``: the job has a
    ``distill`` section (its temperature and alpha join the default space).
    """
    if space != "default":
        return space
    if model_kind is None:
        raise ConfigError("space: default needs a fine-tuning job (model, data, train)")
    return default_space(model_kind, distill)
