"""Names that become paths: study, trial and artifact names never leave their root folder.

:func:`safe_name` checks one path component a user chose (a study name, an export name):
letters, digits, ``-``, ``_`` and ``.`` only, no leading dot, no ``..``, no NUL, at most
:data:`MAX_NAME` characters. :func:`safe_child` joins a relative path onto a root folder and
refuses anything that ends up outside it: absolute paths, ``..`` parts, NUL bytes, and symlinks
(anywhere on the way) that point out of the root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath

from tunesmith.errors import ConfigError

MAX_NAME = 100
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _fail(field: str, rule: str, value: object) -> ConfigError:
    return ConfigError(f"{field} {rule}, got {value!r}")


def safe_name(value: object, field: str) -> str:
    """Return ``value`` if it is a safe single path component, else raise :class:`ConfigError`."""
    if not isinstance(value, str):
        raise _fail(field, "must be a string", value)
    if "\x00" in value:
        raise _fail(field, "must not contain a NUL byte", value)
    if not value:
        raise _fail(field, "must not be empty", value)
    if len(value) > MAX_NAME:
        raise _fail(field, f"must be at most {MAX_NAME} characters (is {len(value)})", value)
    if not _NAME_RE.match(value):
        raise _fail(field, "may contain only letters, digits, '-', '_' and '.'", value)
    if value.startswith("."):
        raise _fail(field, "must not start with '.'", value)
    if ".." in value:
        raise _fail(field, "must not contain '..'", value)
    return value


def safe_child(root: str | os.PathLike[str], name: str | os.PathLike[str], field: str) -> Path:
    """Resolve relative path ``name`` under ``root``; refuse anything that would escape ``root``.

    Returns the resolved path (which need not exist yet). ``root`` itself is trusted and resolved
    first, so a root that is itself a symlink is fine.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise _fail(field, "must be a relative path string", name)
    text = os.fspath(name)
    if not isinstance(text, str):
        raise _fail(field, "must be a relative path string", name)
    if "\x00" in text:
        raise _fail(field, "must not contain a NUL byte", text)
    if not text.strip():
        raise _fail(field, "must not be empty", text)
    pure = PurePath(text)
    if pure.is_absolute() or pure.anchor or text.startswith(("/", "\\")):
        raise _fail(field, f"must be a path relative to {root}, not absolute", text)
    if ".." in pure.parts or ".." in re.split(r"[\\/]", text):
        raise _fail(field, "must not contain '..'", text)
    base = Path(root).resolve()
    target = (base / pure).resolve()
    if target != base and base not in target.parents:
        raise _fail(field, f"must stay inside {base} (a symlink leads to {target})", text)
    return target
