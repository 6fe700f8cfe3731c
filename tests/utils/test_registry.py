"""Registry: the one read-only, name-keyed mapping every registry of tunesmith is built on."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tunesmith.errors import ConfigError
from tunesmith.utils.registry import Registry


def _colours() -> Registry[int]:
    return Registry("colour", {"red": 1, "green": 2, "blue": 3})


def test_lookup_and_mapping_behaviour():
    reg = _colours()
    assert reg.lookup("green") == 2
    assert reg.lookup("blue", where="paint.colour") == 3
    assert reg["red"] == 1
    assert list(reg) == ["red", "green", "blue"]  # given order, not sorted
    assert len(reg) == 3 and "red" in reg and "pink" not in reg
    assert reg.get("pink") is None and dict(reg.items()) == {"red": 1, "green": 2, "blue": 3}
    assert isinstance(reg, Mapping) and reg.kind == "colour"
    assert repr(reg) == "Registry('colour', ['red', 'green', 'blue'])"


def test_unknown_name_lists_the_known_ones():
    reg = _colours()
    with pytest.raises(ConfigError) as info:
        reg.lookup("pink")
    assert str(info.value) == "unknown colour 'pink'; known: red, green, blue"
    with pytest.raises(ConfigError) as info:
        reg.lookup("pink", where="paint.colour")
    assert str(info.value) == "paint.colour: unknown colour 'pink'; known: red, green, blue"
    with pytest.raises(KeyError):  # plain indexing stays a KeyError, as for any mapping
        reg["pink"]


def test_unhashable_or_non_string_names_are_unknown_too():
    reg = _colours()
    with pytest.raises(ConfigError, match=r"unknown colour \['red'\]; known: red"):
        reg.lookup(["red"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown colour 1;"):
        reg.lookup(1)  # type: ignore[arg-type]


def test_read_only_and_detached_from_its_source():
    source = {"red": 1}
    reg = Registry("colour", source)
    source["green"] = 2  # the registry copied its entries
    assert list(reg) == ["red"]
    with pytest.raises(TypeError):
        reg["green"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del reg["red"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        reg.setdefault  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        reg.extra = 1  # type: ignore[attr-defined]


def test_empty_registry():
    reg: Registry[int] = Registry("thing", {})
    assert len(reg) == 0
    with pytest.raises(ConfigError, match="unknown thing 'x'; known: $"):
        reg.lookup("x")
