"""Crash-safe training checkpoints: safetensors weights + JSON state, verified on load.

Each checkpoint is a folder ``ckpt-<step:08d>/`` holding ``weights.safetensors``, ``state.json``
and the ``MANIFEST.json`` that :func:`~tunesmith.utils.atomic.atomic_directory` writes. A folder
only appears under its final name once complete, so a process killed mid-save leaves at most a
hidden temporary folder, which the next save removes. :meth:`CheckpointStore.load_latest`
verifies manifests newest-first and falls back to the newest good checkpoint, logging a warning for
each bad one; it never returns a partial checkpoint.

One process writes a store at a time (the worker running the trial); readers may be anywhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.utils.atomic import (
    CorruptArtifactError,
    atomic_directory,
    fsync_dir,
    verify_manifest,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "weights.safetensors"
STATE_NAME = "state.json"
_DIR_RE = re.compile(r"^ckpt-(\d{8,})$")


def checkpoint_dirname(step: int) -> str:
    """Folder name of the checkpoint at ``step``: ``ckpt-00000042``."""
    return f"ckpt-{step:08d}"


class CheckpointStore:
    """Checkpoints of one training run under ``root``, keeping the newest ``keep`` of them."""

    def __init__(self, root: str | os.PathLike[str], keep: int = 3) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.root = Path(root)
        self.keep = keep

    def steps(self) -> list[int]:
        """Steps of the checkpoint folders present (not verified), oldest first."""
        if not self.root.is_dir():
            return []
        out = []
        for entry in self.root.iterdir():
            match = _DIR_RE.match(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                out.append(int(match.group(1)))
        return sorted(out)

    def save(self, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        """Write checkpoint ``step`` atomically, then drop all but the newest ``keep``.

        ``tensors`` are saved with safetensors (moved to CPU, made contiguous); ``state`` must be
        JSON-serialisable (NaN and infinities are kept). Returns the checkpoint folder.
        """
        from safetensors.torch import save_file

        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        state_text = json.dumps(state, indent=2, sort_keys=True)  # fail before touching disk
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        target = self.root / checkpoint_dirname(step)
        with atomic_directory(target) as tmp:
            save_file(cpu, str(tmp / WEIGHTS_NAME))
            (tmp / STATE_NAME).write_text(state_text + "\n", encoding="utf-8")
        self._prune()
        return target

    def load_latest(self) -> tuple[int, dict[str, torch.Tensor], dict[str, Any]] | None:
        """Return ``(step, tensors, state)`` of the newest verified checkpoint, or ``None``."""
        for step in reversed(self.steps()):
            folder = self.root / checkpoint_dirname(step)
            try:
                tensors, state = self._load(folder)
            except CorruptArtifactError as exc:
                logger.warning("skipping corrupt checkpoint: %s", exc)
                continue
            return step, tensors, state
        return None

    def _load(self, folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        from safetensors.torch import load_file

        verify_manifest(folder)
        try:
            tensors = load_file(str(folder / WEIGHTS_NAME))
            state = json.loads((folder / STATE_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CorruptArtifactError(f"{folder}: {exc.filename} is missing") from None
        except Exception as exc:  # safetensors raises its own error types
            raise CorruptArtifactError(f"{folder}: cannot read checkpoint: {exc}") from None
        if not isinstance(state, dict):
            raise CorruptArtifactError(f"{folder}: {STATE_NAME} is not a JSON object")
        return tensors, state

    def _prune(self) -> None:
        for step in self.steps()[: -self.keep]:
            self._discard(self.root / checkpoint_dirname(step))

    def _discard(self, folder: Path) -> None:
        """Rename aside first, so a kill mid-delete leaves no half checkpoint under its name."""
        aside = self.root / f".{folder.name}.{uuid.uuid4().hex[:8]}.old"
        try:
            os.replace(folder, aside)
        except OSError:
            return
        fsync_dir(self.root)
        shutil.rmtree(aside, ignore_errors=True)

    def _remove_stale_temporaries(self) -> None:
        for entry in self.root.iterdir():
            name = entry.name
            if name.startswith(".ckpt-") and (name.endswith(".tmp") or name.endswith(".old")):
                with contextlib.suppress(OSError):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
