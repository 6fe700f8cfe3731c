"""Search-space, sampler and pruner config: frozen models validated once, at load.

A search space is a flat mapping from a dotted config path (``train.optimizer.lr``) to a
:data:`ParamSpec`. Keys are kept as written; a trial writes each sampled value back at its path.

```yaml
space:
  train.optimizer.name: {type: categorical, choices: [adamw, sgd]}
  train.optimizer.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
  train.optimizer.momentum: {type: float, low: 0.5, high: 0.99, when: {train.optimizer.name: sgd}}
  train.freezing.k: {type: int, low: 0, high: 6}
  train.epochs: {type: fixed, value: 3}
```

``when: {parent: [values...]}`` makes a parameter active only when every parent is active and took
one of the listed values (a scalar means a one-item list).

A name may carry a variant tag after ``@`` (``train.optimizer.lr@head``): the value is written at
the path before the ``@``, so one config field can have a different range per condition. Variants
of one path need ``when`` conditions that can never hold together (one shared parent with disjoint
allowed values). The sampler and pruner names are checked
here against :data:`SAMPLER_NAMES` / :data:`PRUNER_NAMES`; a test keeps those in sync with the
registries in :mod:`tunesmith.search` (this layer may not import that one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, RootModel, field_validator, model_validator

from tunesmith.config.base import Frozen

Scalar = Union[bool, int, float, str, None]

SAMPLER_NAMES: tuple[str, ...] = ("auto", "grid", "random", "tpe", "gp", "cmaes", "qmc", "nsga2")
PRUNER_NAMES: tuple[str, ...] = ("none", "median", "percentile", "asha", "hyperband")


def _as_list(value: Any) -> Any:
    return value if isinstance(value, (list, tuple)) else [value]


class _Param(Frozen):
    """Fields every parameter kind shares."""

    when: dict[str, list[Scalar]] = Field(default_factory=dict)

    @field_validator("when", mode="before")
    @classmethod
    def _when_lists(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: _as_list(v) for k, v in value.items()}
        return value

    @field_validator("when")
    @classmethod
    def _when_non_empty(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for parent, allowed in value.items():
            if not parent or any(not part for part in parent.split(".")):
                raise ValueError(f"when: parent names are dotted paths, got {parent!r}")
            if not allowed:
                raise ValueError(f"when.{parent}: needs at least one allowed value, got []")
        return value

    def possible(self, value: Any) -> bool:  # pragma: no cover - overridden
        """Whether this parameter can take ``value`` (used to check ``when`` on children)."""
        raise NotImplementedError


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _on_step(value: float, low: float, step: float) -> bool:
    k = (value - low) / step
    return math.isclose(k, round(k), rel_tol=0.0, abs_tol=1e-9 * max(1.0, abs(k)))


class FloatParam(_Param):
    """A real number in ``[low, high]``; ``log`` samples in log space, ``step`` discretises.

    ``grid`` lists the values the grid sampler tries (other samplers ignore it).
    """

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None
    grid: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite, got low={self.low} high={self.high}")
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low} high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError(f"log and step cannot be combined, got log=true step={self.step}")
        if self.step is not None:
            if not self.step > 0:
                raise ValueError(f"step must be > 0, got step={self.step}")
            if not _on_step(self.high, self.low, self.step):
                raise ValueError(
                    f"high - low must be a multiple of step, got low={self.low} "
                    f"high={self.high} step={self.step}"
                )
        _check_grid(self.grid, self)
        return self

    def possible(self, value: Any) -> bool:
        if not _is_number(value) or not self.low <= value <= self.high:
            return False
        return self.step is None or _on_step(float(value), self.low, self.step)


class IntParam(_Param):
    """An integer in ``[low, high]`` (both included), every ``step``; ``log`` needs step 1."""

    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = 1
    grid: list[int] | None = None

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low} high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log needs low > 0, got low={self.low}")
        if self.step < 1:
            raise ValueError(f"step must be >= 1, got step={self.step}")
        if self.log and self.step != 1:
            raise ValueError(f"log and step cannot be combined, got log=true step={self.step}")
        if (self.high - self.low) % self.step:
            raise ValueError(
                f"high - low must be a multiple of step, got low={self.low} high={self.high} "
                f"step={self.step}"
            )
        _check_grid(self.grid, self)
        return self

    def possible(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


def _check_grid(grid: list[Any] | None, param: FloatParam | IntParam) -> None:
    if grid is None:
        return
    if not grid:
        raise ValueError("grid must list at least one value, got []")
    for value in grid:
        if not param.possible(value):
            step = f" on step {param.step}" if param.step not in (None, 1) else ""
            raise ValueError(
                f"grid values must lie in [low, high]{step}, got {value} "
                f"(low={param.low} high={param.high})"
            )
    if len(set(grid)) != len(grid):
        raise ValueError(f"grid values must be unique, got {grid}")


class CategoricalParam(_Param):
    """One of ``choices`` (scalars: str, int, float, bool or null), unordered."""

    type: Literal["categorical"] = "categorical"
    choices: list[Scalar]

    @field_validator("choices")
    @classmethod
    def _unique(cls, value: list[Scalar]) -> list[Scalar]:
        if not value:
            raise ValueError("choices must not be empty, got []")
        for i, item in enumerate(value):
            # Equality, not identity: Optuna stores a choice by its index in the list, and
            # list.index(True) finds 1, so 1/1.0/True are the same choice to it.
            for earlier in value[:i]:
                if item == earlier:
                    raise ValueError(
                        f"choices must be unique, got {item!r} equal to {earlier!r} in {value}"
                    )
        return value

    def possible(self, value: Any) -> bool:
        return value in self.choices


class FixedParam(_Param):
    """A constant written into every trial's config (not sampled, not stored as a parameter)."""

    type: Literal["fixed"] = "fixed"
    value: Any

    def possible(self, value: Any) -> bool:
        return bool(value == self.value)


ParamSpec = Annotated[
    Union[FloatParam, IntParam, CategoricalParam, FixedParam], Field(discriminator="type")
]
"""One search-space parameter; ``type`` picks the kind: float, int, categorical or fixed."""

PARAM_TYPES: tuple[str, ...] = ("float", "int", "categorical", "fixed")


VARIANT_MARK = "@"


def param_path(name: str) -> str:
    """The config path a parameter writes to: its name without a ``@variant`` tag."""
    return name.split(VARIANT_MARK, 1)[0]


def _check_variants(params: Mapping[str, Any]) -> None:
    by_path: dict[str, list[str]] = {}
    for name in params:
        by_path.setdefault(param_path(str(name)), []).append(str(name))
    for path, names in by_path.items():
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a, b = params[first].when, params[second].when
                shared = set(a) & set(b)
                if not any(not set(a[p]) & set(b[p]) for p in shared):
                    raise ValueError(
                        f"{second}: writes {path} like {first}, so their `when` conditions must "
                        f"exclude each other (a shared parent with disjoint values), got "
                        f"{dict(a)} and {dict(b)}"
                    )


def order_params(params: Mapping[str, Any]) -> list[str]:
    """Check the ``when`` links of a space and return its names, parents before children.

    Raises ``ValueError`` naming the parameter when a parent is missing, a ``when`` value can never
    occur, or the links form a cycle. Declaration order is kept wherever the links allow.
    """
    for name, spec in params.items():
        path = param_path(str(name))
        tag = str(name)[len(path) + 1 :]
        if not path or any(not part for part in path.split(".")) or (path != name and not tag):
            raise ValueError(
                f"{name!r}: parameter names are dotted paths like train.optimizer.lr "
                f"(optionally with a variant tag: train.optimizer.lr@head)"
            )
        for parent, allowed in spec.when.items():
            if parent == name:
                raise ValueError(f"{name}: when refers to the parameter itself")
            if parent not in params:
                raise ValueError(
                    f"{name}: when refers to {parent!r}, which is not a parameter of the space"
                )
            parent_spec = params[parent]
            if isinstance(parent_spec, FloatParam) and parent_spec.step is None:
                raise ValueError(
                    f"{name}: when.{parent}: a continuous float cannot be a condition; "
                    f"give {parent} a step or make it categorical"
                )
            for value in allowed:
                if not parent_spec.possible(value):
                    raise ValueError(
                        f"{name}: when.{parent}: {value!r} is not a possible value of {parent}"
                    )
    _check_variants(params)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ValueError(f"{name}: when dependencies form a cycle: {cycle}")
        state[name] = 1
        for parent in params[name].when:
            visit(parent, [*path, name])
        state[name] = 2
        order.append(name)

    for name in params:
        visit(name, [])
    return order


class SpaceConfig(RootModel[dict[str, ParamSpec]]):
    """A whole search space: dotted path → :data:`ParamSpec`, with the ``when`` links checked."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _check_links(self) -> SpaceConfig:
        order_params(self.root)
        return self


def _name_or_string(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _known_name(value: str, names: tuple[str, ...], kind: str) -> str:
    if value not in names:
        raise ValueError(f"unknown {kind} {value!r}; known: {', '.join(names)}")
    return value


class SamplerConfig(Frozen):
    """Which sampler proposes trials: ``sampler: tpe`` or ``{name: tpe, seed: 0, options: {...}}``.

    ``options`` are passed to the Optuna sampler's constructor and checked against its signature
    when the sampler is created.
    """

    name: str = "auto"
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return _name_or_string(value)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_name(value, SAMPLER_NAMES, "sampler")


class PrunerConfig(Frozen):
    """Which pruner stops weak trials: ``pruner: asha`` or ``{name: asha, options: {...}}``."""

    name: str = "none"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return _name_or_string(value)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return _known_name(value, PRUNER_NAMES, "pruner")
