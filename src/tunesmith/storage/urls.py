"""Storage URLs: the SQLite default, PostgreSQL, and in-memory studies.

Pure functions except :func:`prepare_storage_url`, which creates the SQLite file's folder. Nothing
here opens a database: the coordinator does that once everything else has been validated, so a bad
config never leaves a file behind.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.experiment import MEMORY_ALIASES, normalize_storage_url
from tunesmith.errors import ConfigError

MEMORY = "memory"
"""The storage value meaning "keep the study in this process only" (nothing is written)."""


def default_storage_url(study_name: str) -> str:
    """``sqlite:///runs/<name>/study.db``, relative to the current directory."""
    return f"sqlite:///runs/{study_name}/study.db"


def is_memory(url: str) -> bool:
    return url.strip().lower() in MEMORY_ALIASES


def check_storage_url(url: str, field: str = "study.storage") -> str:
    """Return ``url`` normalised, or raise :class:`ConfigError` naming ``field``."""
    try:
        return normalize_storage_url(url)
    except ValueError as exc:
        raise ConfigError(f"{field} {exc}, got {redact(url)!r}") from None


def resolve_storage_url(url: str | None, study_name: str) -> str:
    """The URL a study lives at: ``url`` checked, or the default SQLite file for ``study_name``."""
    return check_storage_url(url) if url else default_storage_url(study_name)


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or ``None`` for other URLs and in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///") :].split("?", 1)[0]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


def prepare_storage_url(url: str) -> str:
    """Create the folder of a SQLite file (the only side effect in this module)."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url


def storage_exists(url: str) -> bool:
    """False when ``url`` names a SQLite file that does not exist (opening it would create it)."""
    path = sqlite_path(url)
    return path is None or path.is_file()


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
