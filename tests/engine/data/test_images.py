"""Image folders: good images load; bad images and escaping symlinks name the file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from tunesmith.config.data import AugmentConfig, DataConfig, ImageConfig
from tunesmith.engine.data.images import read_image_folder
from tunesmith.engine.data.transforms import ImageTransform
from tunesmith.errors import DataError


def _png(path, size=(6, 5), color=(255, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _folder(tmp_path):
    root = tmp_path / "imgs"
    _png(root / "cat" / "a.png")
    _png(root / "cat" / "b.jpg", color=(0, 255, 0))
    _png(root / "dog" / "c.png", size=(4, 4))
    (root / "dog" / "notes.txt").write_text("ignored")
    return root


def test_reads_classes_from_subfolders(tmp_path):
    root = _folder(tmp_path)
    raw = read_image_folder(root, DataConfig(train=str(root)))
    assert raw.labels == ["cat", "cat", "dog"]
    assert raw.inputs[0].shape == (5, 6, 3) and raw.inputs[0].dtype == np.uint8
    assert raw.files[2].endswith("c.png")
    assert raw.locate(2).endswith("c.png")


@pytest.mark.parametrize("kind", ["zero", "garbage", "truncated"])
def test_bad_images_name_the_file(tmp_path, kind):
    root = _folder(tmp_path)
    bad = root / "dog" / "bad.png"
    if kind == "zero":
        bad.write_bytes(b"")
    elif kind == "garbage":
        bad.write_bytes(b"this is not a png at all")
    else:
        _png(bad, size=(64, 64))
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        read_image_folder(root, DataConfig(train=str(root)))
    assert str(bad) in str(info.value)


def test_decompression_bomb_is_refused(tmp_path):
    root = _folder(tmp_path)
    big = _png(root / "dog" / "big.png", size=(200, 200))
    cfg = DataConfig(train=str(root), image={"max_image_pixels": 10_000})
    with pytest.raises(DataError, match="decompression bomb") as info:
        read_image_folder(root, cfg)
    assert str(big) in str(info.value)


def test_pillow_global_limit_also_applies(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    _png(root / "dog" / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match="big.png"):
        read_image_folder(root, DataConfig(train=str(root)))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_leaving_the_folder_is_refused(tmp_path):
    root = _folder(tmp_path)
    outside = _png(tmp_path / "secret.png")
    link = root / "cat" / "link.png"
    link.symlink_to(outside)
    with pytest.raises(DataError, match="outside") as info:
        read_image_folder(root, DataConfig(train=str(root)))
    assert str(link) in str(info.value)


def test_symlinked_class_folder_outside_is_refused(tmp_path):
    root = _folder(tmp_path)
    other = tmp_path / "elsewhere"
    _png(other / "x.png")
    (root / "bird").symlink_to(other, target_is_directory=True)
    with pytest.raises(DataError, match="bird"):
        read_image_folder(root, DataConfig(train=str(root)))


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_image_folder(tmp_path / "empty", DataConfig(train="x"))
    with pytest.raises(DataError, match="does not exist"):
        read_image_folder(tmp_path / "nope", DataConfig(train="x"))


def test_transform_scales_resizes_and_normalises():
    img = np.full((8, 8), 255, dtype=np.uint8)
    out = ImageTransform(16, ImageConfig())(img)
    assert out.shape == (3, 16, 16)
    assert torch.allclose(out, torch.ones_like(out))
    zero = ImageTransform(16, ImageConfig())(np.zeros((8, 8, 3), dtype=np.uint8))
    assert torch.allclose(zero, -torch.ones_like(zero))
    ms = ImageTransform(
        8, ImageConfig(normalize="mean_std", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    )
    assert torch.allclose(ms(img), torch.ones(3, 8, 8))
    floats = ImageTransform(8, ImageConfig(), value_scale=1 / 16)(np.full((8, 8), 16.0))
    assert torch.allclose(floats, torch.ones(3, 8, 8))


def test_augmentation_changes_images_but_keeps_shape_and_range():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    aug = AugmentConfig(hflip=True, crop_padding=2, rotation=20, color_jitter=0.3)
    t = ImageTransform(12, ImageConfig(), aug)
    plain = ImageTransform(12, ImageConfig())
    assert not t.deterministic and plain.deterministic
    outs = [t(img) for _ in range(4)]
    assert all(o.shape == (3, 12, 12) for o in outs)
    assert all(o.min() >= -1.0 - 1e-6 and o.max() <= 1.0 + 1e-6 for o in outs)
    assert any(not torch.allclose(o, plain(img)) for o in outs)
    assert torch.equal(plain(img), plain(img))


def test_hflip_only_flips():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[:, 0] = 255
    t = ImageTransform(4, ImageConfig(), AugmentConfig(hflip=True))
    seen = {int(t(img)[0, 0, 3] > 0) for _ in range(30)}
    assert seen == {0, 1}
