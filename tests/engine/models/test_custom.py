"""custom adapter: factory import, named head and groups, head replacement."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tunesmith.config.model import ModelConfig
from tunesmith.engine.models.registry import MODEL_BUILDERS, build_model, get_builder
from tunesmith.errors import ConfigError, MissingDependencyError

sys.path.insert(0, str(Path(__file__).parent))


def _cfg(**kw):
    base = {
        "kind": "custom",
        "factory": "tiny_factories:make_net",
        "head": "fc",
        "groups": ["body", "block"],
    }
    return ModelConfig(**{**base, **kw})


def test_custom_replaces_head_and_exposes_groups():
    m = build_model(_cfg(factory_kwargs={"width": 6}), num_outputs=5).model
    assert [type(g).__name__ for g in m.layer_groups()] == ["Sequential", "Linear"]
    assert m.head[1].in_features == 6 and m.head[1].out_features == 5
    x = {"inputs": torch.randn(3, 4)}
    assert m.forward_features(x).shape == (3, 6)
    assert m(x).shape == (3, 5)


def test_keep_head():
    m = build_model(_cfg(replace_head=False), num_outputs=3).model
    assert isinstance(m.head, torch.nn.Linear)
    assert m({"inputs": torch.randn(2, 4)}).shape == (2, 3)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"factory": "no_such_module_xyz:make"}, "cannot import"),
        ({"factory": "tiny_factories:missing"}, "no attribute"),
        ({"factory": "tiny_factories:not_a_module"}, "nn.Module"),
        ({"head": "classifier"}, "model.head.*body, block, fc"),
        ({"groups": ["body", "nope"]}, r"model.groups\[1\]"),
        ({"head": "body.1"}, "contains no nn.Linear"),
        ({"factory_kwargs": {"depth": 3}}, "factory_kwargs"),
    ],
)
def test_custom_errors(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        build_model(_cfg(**kw), num_outputs=2)


def test_registry_contract():
    for kind in MODEL_BUILDERS:
        assert callable(get_builder(kind))
    with pytest.raises(ConfigError, match="hf_text"):
        get_builder("resnet")
    with pytest.raises(ConfigError, match="num_labels"):
        build_model(_cfg(num_labels=4), num_outputs=2)


@pytest.mark.parametrize("kind", ["torchvision", "timm"])
def test_optional_backends_name_the_install(kind):
    try:
        __import__(kind)
    except Exception:
        with pytest.raises(MissingDependencyError, match=f"pip install {kind}"):
            build_model(ModelConfig(kind=kind, name="resnet18", pretrained=False), num_outputs=2)
    else:  # pragma: no cover - only where the extra is installed
        m = build_model(ModelConfig(kind=kind, name="resnet18", pretrained=False), num_outputs=2)
        assert m.model(dict(pixel_values=torch.randn(1, 3, 32, 32))).shape == (1, 2)
