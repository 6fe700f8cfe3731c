"""Image folders: one subfolder per class, PNG/JPEG/BMP/GIF/WebP files read with Pillow.

Every file is opened and fully decoded here, before training, so that a zero-byte, unreadable or
truncated image, an image above the pixel limit (decompression bomb) or a symlink that leaves the
data folder is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from tunesmith.config.data import DataConfig
from tunesmith.engine.data.raw import RawSplit
from tunesmith.errors import DataError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve(strict=True).relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def load_image(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """Decode one image to an ``H×W×3`` uint8 RGB array; every failure names the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read image: {exc.strerror}") from None
    if size == 0:
        raise DataError(f"{path}: image file is empty (zero bytes)")
    limit = max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if limit is not None and w * h > limit:
                    raise DataError(
                        f"{path}: image is {w}x{h} = {w * h} pixels, above the limit of {limit} "
                        "(possible decompression bomb; raise data.image.max_image_pixels if "
                        "the image is genuine)"
                    )
                img.load()
                arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{path}: refused as a possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image (truncated or corrupt?): {exc}") from None
    return arr


def read_image_folder(root: Path, cfg: DataConfig) -> RawSplit:
    """Read ``root/<class>/<image>``; the label is the subfolder name."""
    if not root.exists():
        raise DataError(f"{root}: image folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder with one subfolder per class")
    real_root = root.resolve()
    images: list[np.ndarray] = []
    labels: list[str] = []
    files: list[str] = []
    classes = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    for cls_dir in classes:
        if not _inside(cls_dir, real_root):
            raise DataError(f"{cls_dir}: symlink points outside the data folder {root}; refused")
        if not cls_dir.is_dir():
            log.debug("skipping %s: not a class folder", cls_dir)
            continue
        for dirpath, dirnames, filenames in os.walk(cls_dir, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for d in dirnames:
                if not _inside(Path(dirpath) / d, real_root):
                    raise DataError(f"{Path(dirpath) / d}: symlink points outside {root}; refused")
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                if not _inside(path, real_root):
                    raise DataError(
                        f"{path}: symlink points outside the data folder {root}; refused"
                    )
                images.append(load_image(path, cfg.image.max_image_pixels))
                labels.append(cls_dir.name)
                files.append(str(path))
    if not images:
        raise DataError(
            f"{root}: no images found; expected one subfolder per class holding "
            f"{', '.join(IMAGE_EXTENSIONS)} files"
        )
    rows = list(range(1, len(images) + 1))
    return RawSplit("image", images, labels, str(root), rows, files)
