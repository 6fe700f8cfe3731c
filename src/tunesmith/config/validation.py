"""Pydantic validation errors turned into one readable :class:`ConfigError`.

Each line names the file (and line, when the YAML said where), the dotted key path, the rule and
the value; an unknown key gets a did-you-mean from the model's fields, through nested models,
Optional and tagged unions. A range declared on a field (``Field(gt=0)``, ``Field(ge=0, lt=1)``,
the aliases of :mod:`tunesmith.config.base`) reads ``train.optimizer.lr: must be > 0, got -0.1``
or ``must be in [0, 1), got 1.5``: both bounds are shown when the field declares both.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Protocol

from tunesmith.errors import ConfigError

#: pydantic's range error types -> the bound's key in the error context.
_RANGE_ERRORS = {
    "greater_than": "gt",
    "greater_than_equal": "ge",
    "less_than": "lt",
    "less_than_equal": "le",
}


class KeyLines(Protocol):
    """Where each key path of a document is written (:class:`tunesmith.config.loader.LoadedYaml`).

    A protocol, not an import of the loader, so that this module and the loader (which
    re-exports :func:`validate`) do not import each other.
    """

    def line_of(self, path: Iterable[Any]) -> int | None: ...


def format_validation_error(exc: Any, source: str, loaded: KeyLines | None = None) -> ConfigError:
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
        elif err.get("type") in _RANGE_ERRORS:
            rule = _range_rule(err, raw_loc, model)
            lines.append(f"{where}: {path}: {rule}, got {short_repr(value)}")
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


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds_in(annotation: Any, metadata: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Every set of range bounds declared in ``annotation`` (and a field's own ``metadata``)."""
    import typing

    def bounds(items: Iterable[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in items:
            for extra in getattr(item, "metadata", None) or [item]:  # a FieldInfo holds several
                for key in ("gt", "ge", "lt", "le"):
                    if getattr(extra, key, None) is not None:
                        out[key] = getattr(extra, key)
        return out

    found = [b for b in [bounds(metadata)] if b]
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        found += [b for b in [bounds(extras)] if b]
        return found + _bounds_in(base)
    for arg in typing.get_args(annotation):
        found += _bounds_in(arg)
    return found


def _range_rule(err: Any, raw_loc: list[str], model: Any) -> str:
    """``must be > 0`` / ``must be in [0, 1)`` (``or null`` when null is allowed there)."""
    ctx = err.get("ctx") or {}
    key = _RANGE_ERRORS[str(err.get("type"))]
    failed = {key: ctx.get(key)}
    candidates: list[dict[str, Any]] = []
    nullable = False
    if model is not None and raw_loc:
        # The field itself, or (for an item of a list or tuple) the field holding it.
        for depth in (1, 2):
            if len(raw_loc) < depth:
                break
            name = raw_loc[-depth]
            _, models = _walk(raw_loc[:-depth], model)
            infos = [m.model_fields[name] for m in models if name in m.model_fields]
            if infos:
                for info in infos:
                    candidates += _bounds_in(info.annotation, info.metadata)
                    nullable = nullable or (depth == 1 and type(None) in _members(info.annotation))
                break
    matching = [b for b in candidates if b.get(key) == failed[key]]
    chosen = matching[0] if matching and all(b == matching[0] for b in matching) else failed
    low = ("(", chosen["gt"]) if "gt" in chosen else ("[", chosen["ge"]) if "ge" in chosen else None
    high = (
        (chosen["lt"], ")") if "lt" in chosen else (chosen["le"], "]") if "le" in chosen else None
    )
    if low and high:
        rule = f"must be in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
    else:
        op = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
        bound = next(k for k in ("gt", "ge", "lt", "le") if k in chosen)
        rule = f"must be {op[bound]} {_number(chosen[bound])}"
    return rule + (" or null" if nullable else "")


def validate(model: Any, data: Any, source: str, loaded: KeyLines | None = None) -> Any:
    """Validate ``data`` against pydantic ``model``; errors become a :class:`ConfigError`."""
    import pydantic

    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        exc._tunesmith_model = model  # type: ignore[attr-defined]
        raise format_validation_error(exc, source, loaded) from None
    except RecursionError:
        raise ConfigError(f"{source}: the config is nested too deeply to validate") from None
