"""ModelConfig: kinds, custom-model fields and numeric ranges."""

from __future__ import annotations

import pytest

from tunesmith.config.loader import validate
from tunesmith.config.model import MODEL_KINDS, ModelConfig
from tunesmith.errors import ConfigError


def test_defaults_resolve_names():
    assert ModelConfig().resolved_name == "packaged:minilm"
    assert ModelConfig(kind="efficientnet").resolved_name == "efficientnet-lite0"
    assert (
        ModelConfig(kind="hf_text", name="bert-base-uncased").resolved_name == "bert-base-uncased"
    )


def test_kinds_match_registry():
    from tunesmith.engine.models.registry import MODEL_BUILDERS

    assert set(MODEL_KINDS) == set(MODEL_BUILDERS)


def test_custom_model_fields():
    cfg = ModelConfig(kind="custom", factory="pkg.mod:make", head="fc", groups=["a", "b.c"])
    assert cfg.groups == ("a", "b.c")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"kind": "custom", "head": "fc", "groups": ["a"]}, "model.factory is required"),
        (
            {"kind": "custom", "factory": "nomodule", "head": "fc", "groups": ["a"]},
            "package.module",
        ),
        ({"kind": "custom", "factory": "m:f", "groups": ["a"]}, "model.head"),
        ({"kind": "custom", "factory": "m:f", "head": "fc"}, "model.groups"),
        ({"kind": "custom", "factory": "m:f", "head": "fc()", "groups": ["a"]}, "dotted"),
        ({"kind": "hf_text", "factory": "m:f"}, "only read"),
        ({"kind": "timm"}, "model.name"),
        ({"kind": "resnet"}, "kind"),
        ({"dropout": 1.0}, "dropout"),
        ({"max_length": 0}, "max_length"),
        ({"pooling": "max"}, "pooling"),
        ({"image_size": 4}, "image_size"),
    ],
)
def test_bad_model_configs(data, needle):
    with pytest.raises(ConfigError, match=needle):
        validate(ModelConfig, data, "cfg.yaml")
