"""TEMPORARY stand-in until the cfg branch lands (replaced at merge)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from tunesmith.errors import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, kind: str, entries: Mapping[str, T]) -> None:
        self.kind = kind
        self._entries = MappingProxyType(dict(entries))

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, name: str, where: str | None = None) -> T:
        if name not in self._entries:
            msg = f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}"
            raise ConfigError(f"{where}: {msg}" if where else msg)
        return self._entries[name]
