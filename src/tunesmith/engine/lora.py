"""Low-rank adapters (LoRA, with ``peft``) for the ``lora`` freezing strategy.

:func:`apply_lora` injects adapters into the linear layers of a text encoder's layer groups (not
the embeddings; with ``layers: k`` the last ``k`` groups only): ``targets: attention`` adapts the
query, key and value projections, ``all_linear`` every linear layer of the encoder layers. The
backbone's own weights stay frozen; the adapters and the new head train. The model then carries
``lora_config`` (the settings, for the export) and keeps its layer groups, so the freezing plan,
prefix cache and export work on it as on any model. :func:`merge_lora` folds the adapters into
the base weights (a plain model again); :func:`lora_state` is what an adapter export saves: the
adapters and the head.
"""

from __future__ import annotations

from typing import Any

from tunesmith.config.train import LoraConfig
from tunesmith.errors import ConfigError, MissingDependencyError


def lora_groups(lora: LoraConfig | None, n_groups: int) -> frozenset[int]:
    """The layer groups that get adapters: all but the embeddings, or the last ``lora.layers``."""
    layers = lora.layers if lora is not None else None
    start = 1 if layers is None else max(1, n_groups - layers)
    return frozenset(range(start, n_groups))


#: Last names of the query, key and value projections across encoder families (BERT, DistilBERT,
#: RoBERTa/BART-like ``*_proj``, T5, fused ``query_key_value`` / ``qkv``).
ATTENTION_NAMES = frozenset(
    {"query", "key", "value", "q_lin", "k_lin", "v_lin", "q_proj", "k_proj", "v_proj"}
    | {"q", "k", "v", "query_key_value", "qkv"}
)
MARK = "lora_"


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise MissingDependencyError("peft", purpose="train.freezing.strategy 'lora'") from None
    return peft


def target_names(model: Any, cfg: LoraConfig) -> list[str]:
    """Names (relative to ``model.backbone``) of the linear layers that get adapters."""
    from torch import nn

    groups = model.layer_groups()
    chosen = lora_groups(cfg, len(groups))
    inside = {id(m) for i in chosen for m in groups[i].modules()}
    names = [
        name
        for name, module in model.backbone.named_modules()
        if id(module) in inside
        and isinstance(module, nn.Linear)
        and (cfg.targets == "all_linear" or name.rsplit(".", 1)[-1] in ATTENTION_NAMES)
    ]
    if not names:
        raise ConfigError(
            f"train.lora.targets {cfg.targets!r}: no matching linear layer in the encoder "
            f"layers of {type(model.backbone).__name__}; rule: attention needs layers named "
            f"{', '.join(sorted(ATTENTION_NAMES))}"
        )
    return names


def apply_lora(model: Any, cfg: LoraConfig) -> Any:
    """Inject adapters into ``model`` (an ``hf_text`` model) in place; idempotent for one cfg."""
    from tunesmith.engine.models.hf_text import HFTextModel

    if not isinstance(model, HFTextModel):
        raise ConfigError(
            "train.freezing.strategy 'lora' applies to model.kind hf_text (a transformers "
            f"encoder); rule: other models use full, head, last_k or progressive; got a "
            f"{type(model).__name__}"
        )
    settings = cfg.model_dump(mode="json")
    existing = getattr(model, "lora_config", None)
    if existing is not None:
        if existing != settings:
            raise ConfigError(f"the model already has adapters {existing}; asked for {settings}")
        return model
    peft = _peft()
    config = peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.resolved_alpha,
        lora_dropout=cfg.dropout,
        target_modules=target_names(model, cfg),
        bias="none",
    )
    peft.inject_adapter_in_model(config, model.backbone)
    object.__setattr__(model, "lora_config", settings)  # plain data, not a submodule
    return model


def has_lora(model: Any) -> bool:
    return getattr(model, "lora_config", None) is not None


def lora_settings(model: Any) -> dict[str, Any]:
    """The ``train.lora`` settings the model's adapters were made with."""
    return dict(getattr(model, "lora_config", None) or {})


def is_lora_param(name: str) -> bool:
    return MARK in name


def lora_state(model: Any) -> dict[str, Any]:
    """The adapters' and the head's tensors of ``model``'s state dict (an adapter export)."""
    return {
        k: v for k, v in model.state_dict().items() if is_lora_param(k) or k.startswith("head.")
    }


def merge_lora(model: Any) -> Any:
    """Fold the adapters into the base weights, in place; the model is a plain one afterwards."""
    peft = _peft()
    layer_type = peft.tuners.lora.LoraLayer
    for name, module in list(model.named_modules()):
        if not isinstance(module, layer_type):
            continue
        module.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model


def trainable_fraction(model: Any) -> float:
    """The share of an adapted ``model``'s parameters that train: the adapters and the head."""
    total = trained = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if is_lora_param(name) or name.startswith("head."):
            trained += p.numel()
    return trained / total if total else 0.0
