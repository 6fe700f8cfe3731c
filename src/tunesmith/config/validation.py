"""Pydantic validation errors turned into one readable :class:`ConfigError`.

Each line names the file (and line, when the YAML said where), the dotted key path, the rule and
the value; an unknown key gets a did-you-mean from the model's fields, through nested models,
Optional and tagged unions.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from tunesmith.errors import ConfigError

if TYPE_CHECKING:
    from tunesmith.config.loader import LoadedYaml


def format_validation_error(exc: Any, source: str, loaded: LoadedYaml | None = None) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one :class:`ConfigError` naming each field."""
    model = getattr(exc, "_tunesmith_model", None)
    lines = []
    for err in exc.errors():
        raw_loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith("function-")]
        loc, _ = _walk(raw_loc, model)
        path = ".".join(loc) or "(top level)"
        line = loaded.line_of(loc) if loaded is not None else None
        where = f"{source}:{line}" if line else source
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        value = err.get("input")
        if err.get("type") == "extra_forbidden":
            _, where_models = _walk(raw_loc[:-1], model)
            hint = _did_you_mean(loc[-1], where_models) if model is not None and loc else ""
            lines.append(f"{where}: {path}: unknown key{hint}")
        elif err.get("type") == "missing":
            lines.append(f"{where}: {path}: required key is missing")
        elif err.get("type") == "value_error" and ("got " in msg or isinstance(value, dict)):
            lines.append(f"{where}: {path}: {msg}")  # the rule's own message shows the values
        else:
            lines.append(f"{where}: {path}: {msg}, got {short_repr(value)}")
    return ConfigError("\n".join(lines))


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _members(tp: Any) -> list[Any]:
    """Unwrap Annotated, Optional and unions (and a RootModel's root) into plain annotations."""
    import types
    import typing

    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    fields = getattr(tp, "model_fields", None)
    if isinstance(fields, dict) and set(fields) == {"root"}:  # RootModel: look through it
        return _members(fields["root"].annotation)
    return [tp]


def _step(tp: Any, part: str) -> tuple[str, list[Any]]:
    """How annotation ``tp`` reads location ``part``: field/key/index, union tag, or not at all."""
    import collections.abc as cabc
    import typing

    fields = getattr(tp, "model_fields", None)
    if isinstance(fields, dict):
        if part in fields:
            return "key", [fields[part].annotation]
        tags = {tp.__name__} | {
            str(a)
            for info in fields.values()
            if typing.get_origin(info.annotation) is typing.Literal
            for a in typing.get_args(info.annotation)
        }
        return ("tag", [tp]) if part in tags else ("none", [])
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return "key", args[1:] or [Any]
    if origin in (list, tuple, set, frozenset, cabc.Sequence):
        return "key", args or [Any]
    return "none", []


def _walk(loc: list[str], model: Any) -> tuple[list[str], list[Any]]:
    """Follow ``loc`` through nested models: the path as written in YAML and the models there.

    Pydantic puts a discriminated union's tag (``float``) or a union member's class name into an
    error's location; those parts are not keys of the file, so they are dropped from the path.
    """
    types_here = _members(model) if model is not None else []
    kept: list[str] = []
    for part in loc:
        results = [_step(tp, part) for tp in types_here]
        keyed = [t for kind, ts in results if kind == "key" for t in ts]
        tagged = [t for kind, ts in results if kind == "tag" for t in ts]
        if keyed or not tagged:
            kept.append(part)
            types_here = [m for t in keyed for m in _members(t)]
        else:  # a union tag in the location: narrow to that member, not a YAML key
            types_here = tagged
    return kept, [t for t in types_here if isinstance(getattr(t, "model_fields", None), dict)]


def _did_you_mean(key: str, candidates: list[Any]) -> str:
    """Suggest the closest known key among the fields of ``candidates``."""

    known = sorted({f for m in candidates for f in m.model_fields if f != "root"})
    if not known:
        return ""
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"


def validate(model: Any, data: Any, source: str, loaded: LoadedYaml | None = None) -> Any:
    """Validate ``data`` against pydantic ``model``; errors become a :class:`ConfigError`."""
    import pydantic

    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        exc._tunesmith_model = model  # type: ignore[attr-defined]
        raise format_validation_error(exc, source, loaded) from None
    except RecursionError:
        raise ConfigError(f"{source}: the config is nested too deeply to validate") from None
