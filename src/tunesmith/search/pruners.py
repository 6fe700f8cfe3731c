"""Pruner registry: the YAML name → an Optuna pruner, options checked against its signature.

==========  ===================================================================
name        Optuna class (our defaults)
==========  ===================================================================
none        NopPruner: every trial runs to the end
median      MedianPruner: stop when worse than the median of earlier trials at
            the same step
percentile  PercentilePruner(percentile=25.0): keep trials in the best 25 %
asha        SuccessiveHalvingPruner (asynchronous successive halving): options
            min_resource, reduction_factor, min_early_stopping_rate,
            bootstrap_count
hyperband   HyperbandPruner: min_resource, max_resource, reduction_factor,
            bootstrap_count
==========  ===================================================================

Optuna prunes single-objective studies only; the caller decides whether to ask the pruner.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunesmith.config.search import PrunerConfig
from tunesmith.search.samplers import check_options, construct_checked, constructor_params
from tunesmith.utils.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from optuna.pruners import BasePruner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrunerEntry:
    """How to build one registered pruner."""

    target: str
    """Class name in ``optuna.pruners``."""
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> type:
        import optuna.pruners

        return getattr(optuna.pruners, self.target)  # type: ignore[no-any-return]

    def accepted_options(self) -> list[str]:
        """Constructor arguments a user may pass as ``options``."""
        return constructor_params(self.load())


PRUNERS: Registry[PrunerEntry] = Registry(
    "pruner",
    {
        "none": PrunerEntry("NopPruner"),
        "median": PrunerEntry("MedianPruner"),
        "percentile": PrunerEntry("PercentilePruner", defaults={"percentile": 25.0}),
        "asha": PrunerEntry("SuccessiveHalvingPruner"),
        "hyperband": PrunerEntry("HyperbandPruner"),
    },
)
"""Read-only registry of pruners keyed by their YAML name."""


def create_pruner(config: PrunerConfig, *, field: str = "study.pruner") -> BasePruner:
    """Build the configured pruner; unknown or invalid options are a :class:`ConfigError`."""
    entry = PRUNERS.lookup(config.name, f"{field}.name")
    where = f"{field}.options"
    check_options(config.options, entry.accepted_options(), where, f"pruner {config.name}")
    kwargs = {**entry.defaults, **config.options}
    pruner = construct_checked(entry.load(), kwargs, where, f"pruner {config.name}")
    logger.debug("pruner %s with %s", config.name, kwargs)
    return pruner  # type: ignore[no-any-return]
