"""Safe YAML loading and dotted overrides (validation messages: :mod:`.validation`).

Rules enforced here, at the boundary, so no later code has to care:

* only YAML's safe constructors are used (no Python objects, nothing executes);
* a key given twice in one mapping is an error, at any depth (PyYAML silently keeps the last one);
  keys brought in by a ``<<: *anchor`` merge may be overridden by explicit keys, as YAML intends;
* mapping keys must be plain scalars (no lists or mappings as keys);
* scalars follow the YAML 1.2 core schema rather than PyYAML's YAML 1.1 one:
  ``1e-5``, ``1E5``, ``.5``, ``-2.5e-3`` are floats; ``1_000``, ``0x10``, ``0o17``, ``0b101`` are
  ints; ``017`` is 17 (not octal 15); ``12:30`` is a string (not sexagesimal 750);
  only ``true``/``false`` (any of three casings) are booleans — **``yes``, ``no``, ``on``, ``off``
  stay strings** (so ``country: no`` means Norway; a boolean field still accepts them, because
  pydantic reads those strings as booleans); ``2024-01-02`` is a date; ``~``/``null`` is None;
* documents above :data:`MAX_BYTES`, nested deeper than :data:`MAX_DEPTH`, or expanding through
  aliases to more than :data:`MAX_NODES` nodes (the "billion laughs" document) are refused
  before anything is built, as are recursive aliases;
* every error names the file, the key path, the line when known, the rule and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

# Re-exported: callers validate through this module, the formatting lives in its own.
from tunesmith.config.validation import (  # noqa: F401 - validate is re-exported
    format_validation_error,
    short_repr,
    validate,
)
from tunesmith.errors import ConfigError

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT_RE = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*|0x[0-9a-fA-F][0-9a-fA-F_]*|0o[0-7][0-7_]*|0b[01][01_]*)$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


def _key_text(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and a depth limit while composing."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"line {mark.line + 1}: document is nested deeper than {MAX_DEPTH} levels; "
                    f"rule: at most {MAX_DEPTH}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, ConfigError):
            raise
        except Exception as exc:  # a scalar its tag cannot build, e.g. 2024-13-45 as a date
            raise ConfigError(
                f"line {node.start_mark.line + 1}: cannot read {short_repr(node.value)} as "
                f"{str(node.tag).removeprefix(_TAG)}: {exc}"
            ) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits[:2] in ("0x", "0o", "0b"):
            return sign * int(digits, 0)
        return sign * int(digits, 10)


# Replace PyYAML's YAML 1.1 bool/int/float resolvers with YAML 1.2 core ones.
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in {_TAG + "bool", _TAG + "int", _TAG + "float"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_TAG + "bool", _BOOL_RE, list("tTfF"))
_Loader.add_implicit_resolver(_TAG + "int", _INT_RE, list("-+0123456789"))
_Loader.add_implicit_resolver(_TAG + "float", _FLOAT_RE, list("-+0123456789."))
_Loader.add_constructor(_TAG + "int", _Loader.construct_yaml_int)


class _Checker:
    """Walks a composed node graph once: duplicate keys, key types, cycles and expanded size."""

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.total = 0

    def size(self, node: yaml.Node, path: tuple[Any, ...]) -> int:
        """Number of nodes ``node`` expands to once every alias is copied out."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.active:
            raise ConfigError(
                f"{_key_text(path)} (line {node.start_mark.line + 1}): an alias refers to a "
                "mapping or list that contains it; rule: no recursive aliases"
            )
        self.active.add(key)
        n = 1
        if isinstance(node, yaml.MappingNode):
            self.check_keys(node, path)
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                n += 1 + self.size(value_node, (*path, name))
                self.bound(n, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                n += self.size(item, (*path, i))
                self.bound(n, path)
        self.active.discard(key)
        self.sizes[key] = n
        return n

    @staticmethod
    def bound(n: int, path: tuple[Any, ...]) -> None:
        if n > MAX_NODES:
            raise ConfigError(
                f"{_key_text(path)}: the document expands to more than {MAX_NODES} values "
                f"through aliases or sheer size; rule: at most {MAX_NODES}"
            )

    def check_keys(self, node: yaml.MappingNode, path: tuple[Any, ...]) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _TAG + "merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{_key_text(path)} (line {line}): mapping keys must be plain scalars, "
                    f"got a {'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}"
                )
            key = self.loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:  # pragma: no cover - scalars are hashable
                raise ConfigError(f"{_key_text(path)} (line {line}): unhashable key") from None
            if key in seen:
                raise ConfigError(
                    f"{_key_text((*path, key))} (line {line}): duplicate key {key!r}, first given "
                    f"on line {seen[key]}; rule: each key may appear once in a mapping"
                )
            seen[key] = line


def _line_index(node: yaml.Node) -> dict[tuple[str, ...], int]:
    """Map each key path of a composed document to its 1-based line (aliases not followed)."""
    out: dict[tuple[str, ...], int] = {}
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(node, ())]
    seen: set[int] = set()
    while stack:
        current, path = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            children = [(str(k.value), k, v) for k, v in current.value]
        elif isinstance(current, yaml.SequenceNode):
            children = [(str(i), v, v) for i, v in enumerate(current.value)]
        else:
            continue
        for name, mark_node, child in children:
            key = (*path, name)
            out.setdefault(key, mark_node.start_mark.line + 1)
            stack.append((child, key))
    return out


class LoadedYaml:
    """A parsed YAML document with the file it came from and the line of every key path."""

    def __init__(self, data: Any, source: str, lines: dict[tuple[str, ...], int]) -> None:
        self.data = data
        self.source = source
        self.lines = lines

    def line_of(self, path: Iterable[Any]) -> int | None:
        """Line of ``path`` or of its nearest ancestor given in the file; ``None`` if unknown."""
        parts = tuple(str(p) for p in path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None


def parse_yaml(text: str, source: str = "<string>") -> LoadedYaml:
    """Parse YAML text with the safe rules above; errors become :class:`ConfigError`."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise ConfigError(f"{source}: text is {size} bytes; rule: at most {MAX_BYTES} bytes")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _Checker(loader).size(node, ())
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise ConfigError(
            f"{source}: line {line}: character {char!r} is not allowed in YAML; "
            "rule: printable Unicode text only"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = exc.problem or str(exc)
        raise ConfigError(f"{source}:{where} invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops this first
        raise ConfigError(f"{source}: document is nested too deeply") from None
    lines = _line_index(node) if node is not None else {}
    return LoadedYaml(data, source, lines)


def load_yaml(path: str | Path) -> LoadedYaml:
    """Read and parse a YAML config file (see :func:`parse_yaml`)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror or exc}") from None
    if p.is_dir():
        raise ConfigError(f"{p}: config path is a directory; rule: give a YAML file")
    if not p.is_file():
        raise ConfigError(f"{p}: config path is not a regular file; rule: give a YAML file")
    if size > MAX_BYTES:
        raise ConfigError(f"{p}: file is {size} bytes; rule: at most {MAX_BYTES} bytes")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 1]
        raise ConfigError(
            f"{p}: line {line}: byte {exc.start} ({bad!r}) is not valid UTF-8; "
            "rule: config files are UTF-8 text"
        ) from None
    return parse_yaml(text, str(p))


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is read as a YAML scalar or flow collection."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"--set {item!r}: rule: overrides look like key.path=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not part.strip() for part in key.split(".")):
        raise ConfigError(
            f"--set {item!r}: key {key!r} is not a dotted path; rule: key looks like a.b.c"
        )
    if any(c.isspace() for c in key) or "\x00" in item:
        raise ConfigError(
            f"--set {item!r}: key {key!r} contains blanks or NUL; rule: key looks like a.b.c"
        )
    value = parse_yaml(raw, f"--set {key}").data if raw.strip() else None
    return key, value


def set_dotted(data: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Return a copy of ``data`` with ``value`` written at dotted path ``key``.

    Intermediate mappings are created when missing; writing through a non-mapping is an error.
    """
    out = dict(data)
    parts = key.split(".")
    node: dict[str, Any] = out
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif not isinstance(child, Mapping):
            where = ".".join(parts[: i + 1])
            raise ConfigError(
                f"--set {key}: {where} is {short_repr(child)}, not a mapping; "
                f"rule: only mappings can hold keys"
            )
        child = dict(child)
        node[part] = child
        node = child
    node[parts[-1]] = value
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``--set key=value`` strings in order."""
    out = dict(data)
    for item in overrides:
        key, value = parse_override(item)
        out = set_dotted(out, key, value)
    return out
