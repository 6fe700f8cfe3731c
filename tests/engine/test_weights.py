"""Saved trained weights: only what trained, loaded back exactly, refused when they do not fit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tunesmith.engine.weights import load_trained, read_info, save_trained, trained_state
from tunesmith.errors import TunesmithError

sys.path.insert(0, str(Path(__file__).parent / "models"))

from tiny_factories import Net  # noqa: E402


def _pretrained(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    return Net(8)


def _fine_tuned() -> Net:
    """``body`` frozen (pretrained values), ``block`` and ``fc`` changed as training would."""
    model = _pretrained()
    model.body.requires_grad_(False)
    with torch.no_grad():
        model.block.weight.add_(0.5)
        model.fc.bias.mul_(-3.0)
    return model


def test_only_trained_parameters_are_stored(tmp_path: Path) -> None:
    model = _fine_tuned()
    state = trained_state(model)
    assert set(state) == {"block.weight", "block.bias", "fc.weight", "fc.bias"}
    path = save_trained(model, tmp_path / "w.safetensors", {"best_epoch": 2})
    assert read_info(path) == {"best_epoch": 2}


def test_loading_into_a_fresh_model_restores_the_fine_tuned_one(tmp_path: Path) -> None:
    model = _fine_tuned()
    path = save_trained(model, tmp_path / "w.safetensors")
    fresh = _pretrained()  # same pretrained body, untrained block/fc
    assert not torch.equal(fresh.block.weight, model.block.weight)
    load_trained(fresh, path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), model(x))


def test_batchnorm_statistics_travel_with_the_weights(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model.requires_grad_(False)
    model.train()
    model(torch.randn(16, 3) * 5 + 2)  # running statistics move although nothing trains
    path = save_trained(model, tmp_path / "bn.safetensors")
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    fresh[0].load_state_dict(model[0].state_dict())
    load_trained(fresh, path)
    assert torch.equal(fresh[1].running_mean, model[1].running_mean)
    assert int(fresh[1].num_batches_tracked) == 1


def test_weights_of_another_model_are_refused(tmp_path: Path) -> None:
    path = save_trained(_fine_tuned(), tmp_path / "w.safetensors")
    expected = r"tensor .block\.bias. has shape \(8,\), the model expects \(16,\)"
    with pytest.raises(TunesmithError, match=expected):
        load_trained(Net(16), path)
    other = torch.nn.Sequential(torch.nn.Linear(4, 8))
    with pytest.raises(TunesmithError, match="not in the model"):
        load_trained(other, path)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(TunesmithError, match="cannot read the trained weights"):
        load_trained(_pretrained(), bad)
    with pytest.raises(TunesmithError, match="cannot read the trained weights"):
        read_info(bad)


def test_non_persistent_buffers_are_left_out(tmp_path: Path) -> None:
    """A BERT's ``position_ids`` is a non-persistent buffer: not state, rebuilt with the model."""

    def make() -> Net:
        model = _pretrained()
        model.register_buffer("position_ids", torch.arange(4), persistent=False)
        model.register_buffer("scale", torch.ones(2))
        return model

    model = make()
    assert set(trained_state(model)) >= {"scale"} and "position_ids" not in trained_state(model)
    path = save_trained(model, tmp_path / "w.safetensors")
    load_trained(make(), path)
