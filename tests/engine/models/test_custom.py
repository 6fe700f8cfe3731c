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


def test_sequential_module_runs_as_prefix_and_suffix():
    from torch import nn

    from tunesmith.config.train import TrainConfig
    from tunesmith.engine.data.datasets import stack_collate
    from tunesmith.engine.feature_cache import FeatureCache
    from tunesmith.engine.loop import fit
    from tunesmith.engine.models.custom import wrap

    def make(dropout_before=False):
        torch.manual_seed(0)
        seq = nn.Sequential(
            nn.Linear(4, 8), nn.Dropout(0.5) if dropout_before else nn.ReLU(),
            nn.Linear(8, 8), nn.Dropout(0.3), nn.Linear(8, 8), nn.Linear(8, 3),
        )  # fmt: skip
        return wrap(seq, "5", ["0", "2", "4"], num_outputs=3, dropout=0.1)

    m = make().eval()
    x = {"inputs": torch.randn(5, 4)}
    assert m.prefix_cacheable(1) and m.prefix_cacheable(2) and not m.prefix_cacheable(3)
    assert not make(dropout_before=True).prefix_cacheable(2)  # ungrouped dropout in the prefix
    out_of_order = wrap(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), "1", ["0"], 2, 0.0)
    assert not out_of_order.prefix_cacheable(1)
    with torch.no_grad():
        for stop in (1, 2):
            got = m.forward_suffix(m.forward_prefix(x, stop), stop)
            assert torch.allclose(got, m.forward_features(x), atol=1e-6)
    g = torch.Generator().manual_seed(1)
    items = [{"inputs": torch.randn(4, generator=g), "labels": i % 3} for i in range(30)]
    cfg = TrainConfig(epochs=3, batch_size=8, freezing={"strategy": "last_k", "k": 2})
    runs = [fit(make(), items[:20], items[20:], cfg, collate_fn=stack_collate,
                task="classification", num_outputs=3, seed=2, feature_cache=c)
            for c in (None, FeatureCache())]  # fmt: skip
    assert runs[0].cache_stop is None and runs[1].cache_stop == 1
    for a, b in zip(runs[0].history, runs[1].history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
