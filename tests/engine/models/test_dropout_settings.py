"""model.dropout is the new head's dropout; model.encoder_dropout the encoder's (hf_text)."""

from __future__ import annotations

import pytest
from torch import nn

from tunesmith.config.model import ModelConfig
from tunesmith.engine.models.registry import build_model


def _encoder_rates(model: nn.Module) -> set[float]:
    return {m.p for m in model.backbone.modules() if isinstance(m, nn.Dropout)}


@pytest.mark.parametrize("pretrained", [True, False])
def test_encoder_dropout_sets_the_encoders_hidden_and_attention_dropout(
    tiny_bert_dir, pretrained: bool
) -> None:
    plain = build_model(
        ModelConfig(name=str(tiny_bert_dir), pretrained=pretrained), num_outputs=2
    ).model
    assert _encoder_rates(plain) == {0.1}  # the checkpoint's own values
    built = build_model(
        ModelConfig(name=str(tiny_bert_dir), pretrained=pretrained, encoder_dropout=0.37),
        num_outputs=2,
    )
    model = built.model
    assert _encoder_rates(model) == {0.37}
    assert built.backbone_config.hidden_dropout_prob == 0.37
    assert built.backbone_config.attention_probs_dropout_prob == 0.37
    assert model.head[0].p == 0.1  # the head keeps its own default


def test_dropout_is_the_heads_only(tiny_bert_dir) -> None:
    model = build_model(ModelConfig(name=str(tiny_bert_dir), dropout=0.25), num_outputs=2).model
    assert model.head[0].p == 0.25
    assert _encoder_rates(model) == {0.1}


def test_encoder_dropout_is_a_searchable_job_path() -> None:
    from tunesmith.experiment.finetune.objective import job_mapping, validate_job

    base = {"model": {"kind": "hf_text"}, "data": {"builtin": "rotten_tomatoes"}}
    job = validate_job(job_mapping(base, {"model.encoder_dropout": 0.2}), "test")
    assert job.model.encoder_dropout == 0.2
