"""The one registry type: a read-only mapping from a YAML value to what it names.

Every registry of tunesmith (losses, optimizers, schedules, metrics, freezing strategies, model
kinds, data readers, samplers, pruners, runners, objectives) is a :class:`Registry`, so they all
read the same way and an unknown name is the same :class:`~tunesmith.errors.ConfigError`
everywhere, listing the known names::

    LOSSES = Registry("loss", {"cross_entropy": _cross_entropy, "focal": _focal})
    LOSSES.lookup("focall", where="train.loss.name")
    # ConfigError: train.loss.name: unknown loss 'focall'; known: cross_entropy, focal
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TypeVar

from tunesmith.errors import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T]):
    """Read-only ``name -> entry`` mapping of one ``kind`` (keys keep their given order)."""

    __slots__ = ("_entries", "kind")

    def __init__(self, kind: str, entries: Mapping[str, T]) -> None:
        self.kind = kind
        self._entries: Mapping[str, T] = MappingProxyType(dict(entries))

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, [{', '.join(map(repr, self._entries))}])"

    def lookup(self, name: str, where: str | None = None) -> T:
        """The entry called ``name``; else a :class:`ConfigError` listing the known names.

        ``where`` is the config field the name came from (``train.loss.name``); the message
        starts with it so the user knows which key to fix.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name is unknown too
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}unknown {self.kind} {name!r}; known: {', '.join(self._entries)}"
            ) from None
