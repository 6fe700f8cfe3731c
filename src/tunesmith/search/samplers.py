"""Sampler registry: the YAML name → an Optuna sampler, seeded, options checked.

=========  ===========================================  ==================================
name       Optuna class and our defaults                 several objectives
=========  ===========================================  ==================================
grid       GridSampler over ``SearchSpace.grid_points``  yes (it ignores the objectives)
random     RandomSampler                                 yes
tpe        TPESampler(multivariate, group, constant      yes
           liar): joint model, correct on conditional
           spaces, safe with trials running in parallel
gp         GPSampler (needs torch)                       yes (log EHVI)
cmaes      CmaEsSampler (needs ``cmaes``); categorical   no
           and conditional parameters fall back to
           random sampling, with a warning
qmc        QMCSampler(sobol, scrambled)                  yes (it ignores the objectives)
nsga2      NSGAIISampler                                 yes
auto       one of the above, by :func:`choose_sampler`
=========  ===========================================  ==================================

``options`` go to the class's constructor; a key it does not take is a :class:`ConfigError` naming
``study.sampler.options.<key>`` and listing the accepted ones. ``seed`` is ours to pass.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunesmith.config.search import CategoricalParam, FixedParam, SamplerConfig
from tunesmith.errors import ConfigError, require
from tunesmith.search.space import SearchSpace
from tunesmith.utils.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from optuna.samplers import BaseSampler

logger = logging.getLogger(__name__)

AUTO_RANDOM_BELOW = 10
"""``auto`` picks random search below this many trials: model-based samplers need warm-up trials."""
AUTO_GP_MAX_TRIALS = 100
"""``auto`` picks GP up to this many trials (its cost grows with the cube of the trial count)."""
AUTO_GP_MAX_DIMS = 10
"""... and up to this many numeric parameters."""


@dataclass(frozen=True)
class SamplerEntry:
    """How to build one registered sampler."""

    target: str
    """Class name in ``optuna.samplers``."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Our constructor arguments; ``options`` override them."""
    reserved: tuple[str, ...] = ("seed",)
    """Constructor arguments tunesmith sets itself (not accepted as options)."""
    multi_objective: bool = True
    needs: str | None = None
    """Optional module to import first (a MissingDependencyError names the install)."""
    needs_extra: str | None = None

    def accepted_options(self) -> list[str]:
        """Constructor arguments a user may pass as ``options``."""
        return [p for p in constructor_params(self.load()) if p not in self.reserved]

    def load(self) -> Callable[..., Any]:
        if self.target == "ConditionalGridSampler":
            return ConditionalGridSampler
        import optuna.samplers

        if self.target == "auto":
            raise ValueError("'auto' is resolved by choose_sampler, not loaded")
        return getattr(optuna.samplers, self.target)  # type: ignore[no-any-return]


SAMPLERS: Registry[SamplerEntry] = Registry(
    "sampler",
    {
        "grid": SamplerEntry("ConditionalGridSampler", reserved=("seed", "space")),
        "random": SamplerEntry("RandomSampler"),
        "tpe": SamplerEntry(
            "TPESampler", defaults={"multivariate": True, "group": True, "constant_liar": True}
        ),
        "gp": SamplerEntry("GPSampler", needs="torch"),
        "cmaes": SamplerEntry(
            "CmaEsSampler",
            defaults={"warn_independent_sampling": False},  # we warn once, at creation
            multi_objective=False,
            needs="cmaes",
            needs_extra="samplers",
        ),
        "qmc": SamplerEntry(
            "QMCSampler",
            defaults={
                "qmc_type": "sobol",
                "scramble": True,
                # One coordinator owns the sampler, so there is no asynchronous seeding to warn of.
                "warn_asynchronous_seeding": False,
                "warn_independent_sampling": False,  # we warn once, at creation
            },
        ),
        "nsga2": SamplerEntry("NSGAIISampler"),
        "auto": SamplerEntry("auto", reserved=()),
    },
)
"""Read-only registry of samplers keyed by their YAML name."""


def choose_sampler(space: SearchSpace, n_trials: int | None, directions: Sequence[str]) -> str:
    """The rule behind ``sampler: auto`` (documented, deterministic):

    1. fewer than :data:`AUTO_RANDOM_BELOW` trials → ``random`` (no model has warmed up by then);
    2. several objectives, a conditional space or any categorical parameter → ``tpe``;
    3. all-numeric space of at most :data:`AUTO_GP_MAX_DIMS` parameters and a known budget of at
       most :data:`AUTO_GP_MAX_TRIALS` trials → ``gp`` (most sample-efficient there);
    4. otherwise (large or open-ended budgets, many dimensions) → ``tpe``.
    """
    if n_trials is not None and n_trials < AUTO_RANDOM_BELOW:
        return "random"
    sampled = {n: s for n, s in space.specs.items() if not isinstance(s, FixedParam)}
    categorical = any(isinstance(s, CategoricalParam) for s in sampled.values())
    if len(directions) > 1 or space.is_conditional or categorical:
        return "tpe"
    if n_trials is not None and n_trials <= AUTO_GP_MAX_TRIALS and len(sampled) <= AUTO_GP_MAX_DIMS:
        return "gp"
    return "tpe"


def create_sampler(
    config: SamplerConfig,
    space: SearchSpace,
    n_trials: int | None,
    directions: Sequence[str],
    *,
    field: str = "study.sampler",
) -> BaseSampler:
    """Build the configured sampler for ``space``; the same seed gives the same trials."""
    name = config.name
    entry = SAMPLERS.lookup(name, f"{field}.name")
    if name == "auto":
        if config.options:
            raise ConfigError(
                f"{field}.options: options need a named sampler, not 'auto' (which picks one); "
                f"got {sorted(config.options)}"
            )
        name = choose_sampler(space, n_trials, directions)
        logger.info("sampler auto: chose %s for %d trials on %r", name, n_trials or -1, space)
        entry = SAMPLERS[name]
    if len(directions) > 1 and not entry.multi_objective:
        able = [n for n, e in SAMPLERS.items() if e.multi_objective]
        raise ConfigError(
            f"{field}.name: sampler {name!r} optimises one objective, but the study has "
            f"{len(directions)} directions {list(directions)}; use one of: {', '.join(able)}"
        )
    if entry.needs:
        require(entry.needs, entry.needs_extra, purpose=f"the {name} sampler")
    cls = entry.load()
    check_options(config.options, entry.accepted_options(), f"{field}.options", f"sampler {name}")
    kwargs: dict[str, Any] = {**entry.defaults, **config.options, "seed": config.seed}
    if cls is ConditionalGridSampler:
        kwargs["space"] = space
        _warn_grid_budget(space, n_trials)
    if name in ("cmaes", "qmc"):
        _warn_fallback(name, space)
    sampler = construct_checked(cls, kwargs, f"{field}.options", f"sampler {name}")
    if name in LEARNS_FROM_FAILURES:
        from tunesmith.search.failures import failure_aware

        sampler = failure_aware(sampler, config.seed)
    return sampler


LEARNS_FROM_FAILURES = ("tpe", "gp")
"""Samplers that learn from failed trials (:mod:`tunesmith.search.failures`)."""


def check_options(options: Mapping[str, Any], accepted: list[str], where: str, what: str) -> None:
    """Refuse option names the constructor does not take, naming each and listing the accepted."""
    for key in options:
        if key not in accepted:
            known = ", ".join(accepted) if accepted else "(none)"
            raise ConfigError(f"{where}.{key}: unknown option for {what}; accepted: {known}")


def construct_checked(
    cls: Callable[..., Any], kwargs: dict[str, Any], where: str, what: str
) -> Any:
    from optuna.exceptions import ExperimentalWarning

    try:
        with warnings.catch_warnings():
            # Our own defaults (TPE's group=True) are experimental in Optuna; that is our choice,
            # not something the user can act on.
            warnings.simplefilter("ignore", ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {what} refused its options: {exc}") from None


def constructor_params(factory: Callable[..., Any]) -> list[str]:
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    params = inspect.signature(target).parameters.values()
    return [
        p.name
        for p in params
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _warn_grid_budget(space: SearchSpace, n_trials: int | None) -> None:
    size = len(space.grid_points())
    if n_trials is not None and n_trials < size:
        logger.warning(
            "grid sampler: %d trials cover %d of the %d grid points (in a random order)",
            n_trials,
            n_trials,
            size,
        )


def _warn_fallback(name: str, space: SearchSpace) -> None:
    """CMA-ES and QMC model only parameters present in every trial (and CMA-ES no categoricals)."""
    fallback = [
        n
        for n, s in space.specs.items()
        if not isinstance(s, FixedParam)
        and (s.when or (name == "cmaes" and isinstance(s, CategoricalParam)))
    ]
    if fallback:
        logger.warning(
            "%s sampler: %s will be sampled independently at random, not by %s "
            "(conditional%s parameters); tpe models such spaces jointly",
            name,
            ", ".join(fallback),
            name,
            " or categorical" if name == "cmaes" else "",
        )


def _grid_base() -> type:
    from optuna.samplers import GridSampler

    return GridSampler


def ConditionalGridSampler(space: SearchSpace, seed: int | None = None) -> BaseSampler:  # noqa: N802
    """Optuna's GridSampler over the conditional grid of ``space`` (each point exactly once).

    Optuna's own grid is the full product of every parameter's values, which on a conditional space
    repeats each point once per value of every inactive child. Here the grid is
    :meth:`SearchSpace.grid_points`; inactive parameters hold ``None`` and are never asked for.
    Built as a function so that importing this module does not import Optuna.
    """
    import numpy as np

    from tunesmith.storage.internals import configure_grid

    base = _grid_base()
    points = space.grid_points()
    names = sorted(n for n, s in space.specs.items() if not isinstance(s, FixedParam))
    sampler = base({}, seed=seed)  # the product of nothing: one empty point, replaced below
    grids = [tuple(p.get(n) for n in names) for p in points]
    np.random.RandomState(seed or 0).shuffle(grids)  # type: ignore[arg-type]
    configure_grid(sampler, {n: space.grid_values(n) for n in names}, grids)
    return sampler  # type: ignore[no-any-return]
