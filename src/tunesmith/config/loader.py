"""Safe YAML loading, dotted overrides and readable validation errors.

Rules enforced here, at the boundary, so no later code has to care:

* only YAML's safe constructors are used (no Python objects, nothing executes);
* a key given twice in one mapping is an error (PyYAML silently keeps the last one);
* ``1e-5`` and ``.5`` read as floats (YAML 1.1 reads them as strings);
* files above :data:`MAX_BYTES` and documents that expand aliases past :data:`MAX_NODES` are refused;
* every error names the file, the key path, the line when known, the rule and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import ConfigError

MAX_BYTES = 1_000_000
MAX_NODES = 100_000

_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, reads 1e-5 as a float and bounds alias expansion."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._nodes = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise ConfigError(
                f"document expands to more than {MAX_NODES} nodes (alias bomb?); "
                f"rule: at most {MAX_NODES} nodes"
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: mapping keys must be scalars, "
                    f"got {type(key).__name__}"
                ) from None
            if key in seen:
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first given on line {seen[key]}); each key may appear once"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _line_index(node: yaml.Node, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map each key path of a composed document to its 1-based line."""
    out: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            out.update(_line_index(value_node, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = (*path, str(i))
            out[key] = item.start_mark.line + 1
            out.update(_line_index(item, key))
    return out


class LoadedYaml:
    """A parsed YAML document with the file it came from and the line of every key path."""

    def __init__(self, data: Any, source: str, lines: dict[tuple[str, ...], int]) -> None:
        self.data = data
        self.source = source
        self.lines = lines

    def line_of(self, path: Iterable[str]) -> int | None:
        parts = tuple(str(p) for p in path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return None


def parse_yaml(text: str, source: str = "<string>") -> LoadedYaml:
    """Parse YAML text with the safe rules above; errors become :class:`ConfigError`."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise ConfigError(f"{source}: file is larger than {MAX_BYTES} bytes; rule: at most that")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}:{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: document is nested too deeply") from None
    lines = _line_index(node) if node is not None else {}
    return LoadedYaml(data, source, lines)


def load_yaml(path: str | Path) -> LoadedYaml:
    """Read and parse a YAML config file (see :func:`parse_yaml`)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    if not p.is_file():
        raise ConfigError(f"{p}: config path is not a file")
    if size > MAX_BYTES:
        raise ConfigError(f"{p}: file is {size} bytes; rule: at most {MAX_BYTES}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: config file is not valid UTF-8 (byte {exc.start})") from None
    return parse_yaml(text, str(p))


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is read as a YAML scalar or flow collection."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: rule: overrides look like key.path=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: rule: the key must be a dotted path like a.b.c")
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
            raise ConfigError(f"{key}: cannot set inside {where}, which is {child!r}, not a mapping")
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


def format_validation_error(exc: Any, source: str, loaded: LoadedYaml | None = None) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one :class:`ConfigError` naming each field."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith("function-")]
        path = ".".join(loc) or "(top level)"
        line = loaded.line_of(loc) if loaded is not None else None
        where = f"{source}:{line}" if line else source
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        value = err.get("input")
        if err.get("type") == "extra_forbidden":
            lines.append(f"{where}: {path}: unknown key{_did_you_mean(loc, exc)}")
        elif err.get("type") == "missing":
            lines.append(f"{where}: {path}: required key is missing")
        else:
            lines.append(f"{where}: {path}: {msg}, got {_short(value)}")
    return ConfigError("\n".join(lines))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _did_you_mean(loc: list[str], exc: Any) -> str:
    """Suggest the closest known key for an unknown one, when the model's fields are known."""
    import difflib

    model = getattr(exc, "_tunesmith_model", None)
    if model is None or not loc:
        return ""
    fields: Any = model
    for part in loc[:-1]:
        info = getattr(fields, "model_fields", {}).get(part)
        ann = getattr(info, "annotation", None)
        if ann is None or not hasattr(ann, "model_fields"):
            fields = None
            break
        fields = ann
    known = list(getattr(fields, "model_fields", {})) if fields is not None else []
    close = difflib.get_close_matches(loc[-1], known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"


def validate(model: Any, data: Any, source: str, loaded: LoadedYaml | None = None) -> Any:
    """Validate ``data`` against pydantic ``model``; errors become a :class:`ConfigError`."""
    import pydantic

    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        exc._tunesmith_model = model  # type: ignore[attr-defined]
        raise format_validation_error(exc, source, loaded) from None
