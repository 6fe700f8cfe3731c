"""A validated search space: what to sample, in which order, and when a parameter is active.

Pure except :meth:`SearchSpace.suggest` (which asks an Optuna trial) and
:meth:`SearchSpace.distributions` (which builds Optuna distribution objects). Optuna is imported
inside those two methods only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tunesmith.config.search import (
    PARAM_TYPES,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    ParamSpec,
    SpaceConfig,
    order_params,
)
from tunesmith.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import optuna

logger = logging.getLogger(__name__)

MAX_GRID_POINTS = 100_000
"""A grid larger than this is refused: it would never finish and enumerating it costs memory."""


class SearchSpace:
    """Parameters keyed by dotted config path, ordered so that parents come before children."""

    def __init__(self, params: Mapping[str, ParamSpec], field: str = "space") -> None:
        try:
            order = order_params(params)
        except ValueError as exc:
            raise ConfigError(f"{field}.{exc}") from None
        self._params: Mapping[str, ParamSpec] = MappingProxyType(dict(params))
        self._order: tuple[str, ...] = tuple(order)
        self._field = field

    @classmethod
    def from_config(
        cls, data: Mapping[str, Any] | SpaceConfig, field: str = "space", source: str | None = None
    ) -> SearchSpace:
        """Validate a raw mapping (from YAML or Python) and build the space.

        Errors become one :class:`ConfigError` with a line per problem, each naming the parameter
        path, e.g. ``space.train.optimizer.lr: low must be < high, got low=1.0 high=0.1``.
        """
        import pydantic

        if isinstance(data, SpaceConfig):
            return cls(data.root, field)
        prefix = f"{source}: " if source else ""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{prefix}{field} must be a mapping from dotted path to parameter, "
                f"got {type(data).__name__}"
            )
        if not data:
            raise ConfigError(f"{prefix}{field} must declare at least one parameter, got {{}}")
        try:
            config = SpaceConfig.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            lines = [prefix + _format_error(err, field) for err in exc.errors()]
            raise ConfigError("\n".join(lines)) from None
        return cls(config.root, field)

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter name, parents before their conditional children."""
        return self._order

    @property
    def specs(self) -> Mapping[str, ParamSpec]:
        """Read-only mapping of name to its :data:`ParamSpec`, in declaration order."""
        return self._params

    @property
    def is_conditional(self) -> bool:
        """Whether any parameter has a ``when`` condition."""
        return any(spec.when for spec in self._params.values())

    def is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether ``name`` is sampled given the values chosen so far for its parents.

        A parent that is absent from ``params`` (itself inactive) makes the child inactive.
        """
        spec = self._params[name]
        return all(
            parent in params and params[parent] in allowed for parent, allowed in spec.when.items()
        )

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask ``trial`` for every active parameter; fixed values are included as they are."""
        values: dict[str, Any] = {}
        for name in self._order:
            if self.is_active(name, values):
                values[name] = _suggest_one(trial, name, self._params[name])
        return values

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Optuna distributions of every sampled (non-fixed) parameter, active or not."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for name in self._order:
            spec = self._params[name]
            if isinstance(spec, FloatParam):
                out[name] = FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
            elif isinstance(spec, IntParam):
                out[name] = IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step)
            elif isinstance(spec, CategoricalParam):
                out[name] = CategoricalDistribution(spec.choices)
        return out

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of active values, each exactly once, conditions respected.

        Ints and categoricals enumerate their values; floats need a ``grid`` list or a ``step``.
        """
        points: list[dict[str, Any]] = [{}]
        for name in self._order:
            values = self.grid_values(name)
            grown: list[dict[str, Any]] = []
            for point in points:
                if self.is_active(name, point):
                    grown.extend({**point, name: value} for value in values)
                else:
                    grown.append(point)
                if len(grown) > MAX_GRID_POINTS:
                    raise ConfigError(
                        f"{self._field}: the grid has more than {MAX_GRID_POINTS} points "
                        f"(growing at {name}); give ints and floats a coarser `grid` or `step`"
                    )
            points = grown
        return points

    def grid_values(self, name: str) -> list[Any]:
        """The values the grid sampler tries for one parameter (ConfigError when infinite)."""
        spec = self._params[name]
        if isinstance(spec, FixedParam):
            return [spec.value]
        if isinstance(spec, CategoricalParam):
            return list(spec.choices)
        if spec.grid is not None:
            return list(spec.grid)
        if isinstance(spec, IntParam):
            count = (spec.high - spec.low) // spec.step + 1
            if count > MAX_GRID_POINTS:
                raise ConfigError(
                    f"{self._field}.{name}: {count} integer values are too many for a grid; "
                    f"give it a `grid` list or a larger `step`"
                )
            return list(range(spec.low, spec.high + 1, spec.step))
        if spec.step is None:
            raise ConfigError(
                f"{self._field}.{name}: the grid sampler needs a finite set of values, but this "
                f"float is continuous; give it a `grid` list or a `step`"
            )
        count = round((spec.high - spec.low) / spec.step) + 1
        if count > MAX_GRID_POINTS:
            raise ConfigError(
                f"{self._field}.{name}: {count} float values are too many for a grid; "
                f"give it a `grid` list or a larger `step`"
            )
        return [_tidy(spec.low + i * spec.step) for i in range(count - 1)] + [spec.high]

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}: {self._params[n].type}" for n in self._order)
        return f"SearchSpace({kinds})"


def _tidy(value: float) -> float:
    """Drop float noise from ``low + i * step`` (0.30000000000000004 → 0.3)."""
    return float(f"{value:.12g}")


def _suggest_one(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    if isinstance(spec, FixedParam):
        return spec.value
    if isinstance(spec, FloatParam):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log, step=spec.step)
    if isinstance(spec, IntParam):
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    return trial.suggest_categorical(name, list(spec.choices))


def _format_error(err: Any, field: str) -> str:
    """One pydantic error of a :class:`SpaceConfig` as ``space.<param>[.<key>]: <rule>``."""
    loc = [str(part) for part in err.get("loc", ())]
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    kind = err.get("type")
    if not loc:  # a check across parameters: the message starts with the parameter name
        return f"{field}.{msg}"
    name, rest = loc[0], loc[1:]
    if rest and rest[0] in PARAM_TYPES:
        rest = rest[1:]  # the discriminator tag pydantic adds to the location
    path = ".".join([field, name, *rest])
    value = err.get("input")
    if kind == "union_tag_invalid":
        tag = value.get("type") if isinstance(value, Mapping) else value
        return f"{path}.type: unknown parameter type {tag!r}; known: {', '.join(PARAM_TYPES)}"
    if kind == "union_tag_not_found":
        return f"{path}.type: required key is missing; one of: {', '.join(PARAM_TYPES)}"
    if kind == "model_attributes_type" or (kind == "model_type" and not rest):
        return f"{path}: a parameter must be a mapping with a `type`, got {value!r}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "value_error":
        return f"{path}: {msg}"
    return f"{path}: {msg}, got {value!r}"
