"""The tracker fan-out: one ``handle(event)`` for the coordinator, failures turned into warnings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from tunesmith.errors import require

log = logging.getLogger(__name__)

EXTRAS = {"mlflow": ("mlflow", "mlflow"), "tensorboard": ("tensorboard", "tensorboard")}


class Tracker(Protocol):
    name: str

    def handle(self, event: Any) -> None: ...

    def close(self) -> None: ...


def run_root(study_name: str) -> Path:
    """``runs/<study>`` under the current folder, where local tracker files go."""
    return Path("runs") / study_name


def check_trackers(config: Any) -> None:
    """Raise MissingDependencyError (naming the install command) for a tracker not installed."""
    for name in config.log_to:
        module, extra = EXTRAS[name]
        require(module, extra, f"study.log_to: {name}")


class Trackers:
    """Sends each study event to every tracker; a tracker that fails is warned about and dropped."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self._trackers = list(trackers)

    def __bool__(self) -> bool:
        return bool(self._trackers)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self._trackers]

    def handle(self, event: Any) -> None:
        for tracker in list(self._trackers):
            try:
                tracker.handle(event)
            except Exception as exc:
                self._drop(tracker, exc)

    def close(self) -> None:
        for tracker in list(self._trackers):
            try:
                tracker.close()
            except Exception as exc:
                self._drop(tracker, exc)

    def _drop(self, tracker: Tracker, exc: BaseException) -> None:
        log.warning(
            "%s logging stopped for this run (the search goes on): %s: %s",
            tracker.name,
            type(exc).__name__,
            exc,
        )
        self._trackers.remove(tracker)
        try:
            tracker.close()
        except Exception as close_exc:  # already failing; the warning above says so
            log.debug("closing %s failed: %s", tracker.name, close_exc)


def flat_settings(config: Any) -> dict[str, str]:
    """The study's settings as flat ``key: text`` pairs (nested sections dotted)."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = str(value)

    walk("", config.model_dump(mode="json"))
    return out
