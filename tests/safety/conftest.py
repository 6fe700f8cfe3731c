"""Helpers for the malformed-input corpora: run the CLI in-process and hash a folder tree."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tunesmith.cli.main import main


def tree_hash(root: Path) -> str:
    """Hash of every path, file type, size and content under ``root`` (symlinks not followed)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                digest.update(f"L {rel} -> {os.readlink(p)}\n".encode())
            elif p.is_dir():
                digest.update(f"D {rel}\n".encode())
            else:
                digest.update(f"F {rel} {p.stat().st_size}\n".encode())
                digest.update(hashlib.sha256(p.read_bytes()).digest())
    return digest.hexdigest()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder with an existing ``runs/`` tree that bad input must not touch."""
    runs = tmp_path / "runs" / "earlier-study"
    runs.mkdir(parents=True)
    (runs / "study.db").write_bytes(b"not really a database, but it must stay byte-identical")
    (runs / "trial-0000").mkdir()
    (runs / "trial-0000" / "config.yaml").write_text("study: {name: earlier-study}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """Run ``tunesmith ARGS`` in this process; return the exit code and stderr."""
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse errors
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err
