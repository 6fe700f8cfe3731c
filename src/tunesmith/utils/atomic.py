"""Atomic file and folder writes: a reader sees the old content or the new one, never a half.

Files are written to a temporary file in the same folder, flushed, fsynced and renamed over the
target with :func:`os.replace`; then the folder itself is fsynced so the rename survives a power
cut. Folders (checkpoints, exported models) are built in a temporary sibling folder by
:func:`atomic_directory`, which writes ``MANIFEST.json`` (every file's relative path, size and
sha256) before moving the folder into place. :func:`verify_manifest` checks a folder against its
manifest and raises :class:`CorruptArtifactError` on any difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

logger = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"
_CHUNK = 1 << 20


class CorruptArtifactError(TunesmithError):
    """A saved folder does not match its manifest (missing, extra or changed file)."""


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Fsync a directory so renames inside it are durable (a no-op where unsupported)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file beside it, fsync, rename, fsync dir)."""
    target = Path(path)
    folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically (NaN is refused)."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``folder`` except the manifest."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise CorruptArtifactError(f"{folder}: {path.relative_to(folder)} is a symlink")
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            if rel != MANIFEST_NAME:
                out.append(rel)
    return out


def build_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe every file under ``folder``: ``{"files": {rel: {"size", "sha256"}}}``."""
    root = Path(folder)
    files = {}
    for rel in _walk_files(root):
        p = root / rel
        files[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return {"version": 1, "files": files}


def _fsync_tree(folder: Path) -> None:
    """Fsync every file and folder under ``folder`` (files first, then folders bottom-up)."""
    dirs = [folder]
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            dirs.append(path)
        elif path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on clean exit it becomes ``target``.

    On clean exit ``MANIFEST.json`` is written, files and folders are fsynced and the folder is
    renamed into place. An existing ``target`` is renamed aside first, the new folder renamed in,
    then the old one removed, so at every instant either the old or the new complete folder (or,
    for a moment, the aside copy) exists. On error the temporary folder is removed and ``target``
    is left untouched.
    """
    dest = Path(target)
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        manifest = build_manifest(tmp)
        (tmp / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _fsync_tree(tmp)
        aside: Path | None = None
        if dest.exists() or dest.is_symlink():
            aside = parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.old"
            os.replace(dest, aside)
        os.replace(tmp, dest)
        fsync_dir(parent)
    except BaseException:
        _remove(tmp)
        raise
    if aside is not None:
        _remove(aside)
        fsync_dir(parent)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and shape-check ``folder/MANIFEST.json``; raise :class:`CorruptArtifactError`."""
    root = Path(folder)
    path = root / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptArtifactError(f"{root}: {MANIFEST_NAME} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptArtifactError(f"{root}: {MANIFEST_NAME} is unreadable: {exc}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    ):
        raise CorruptArtifactError(f"{root}: {MANIFEST_NAME} does not list files with size/sha256")
    return data


def verify_manifest(folder: str | os.PathLike[str]) -> None:
    """Check every file of ``folder`` against its manifest; raise on missing/extra/changed files."""
    root = Path(folder)
    if not root.is_dir():
        raise CorruptArtifactError(f"{root}: not a folder")
    expected: dict[str, dict[str, Any]] = read_manifest(root)["files"]
    actual = set(_walk_files(root))
    missing = sorted(set(expected) - actual)
    extra = sorted(actual - set(expected))
    if missing:
        raise CorruptArtifactError(f"{root}: files listed in the manifest are missing: {missing}")
    if extra:
        raise CorruptArtifactError(f"{root}: files not in the manifest: {extra}")
    for rel, info in expected.items():
        p = root / rel
        size = p.stat().st_size
        if size != info["size"]:
            raise CorruptArtifactError(
                f"{root}: {rel} is {size} bytes, manifest says {info['size']}"
            )
        if sha256_file(p) != info["sha256"]:
            raise CorruptArtifactError(f"{root}: {rel} checksum differs from the manifest")
