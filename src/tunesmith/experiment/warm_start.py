"""Warm starts: the trials a study begins with, added once per study, for every objective kind.

``warm_start: {study: NAME}`` copies the complete trials of an earlier study whose parameters fit
this study's space (marked with the user attribute ``warm_start_from``; they do not use up
``n_trials``). NAME is looked up in ``warm_start.storage`` when given; otherwise in this study's
own ``study.storage`` (a shared database) and then in NAME's default storage,
``sqlite:///runs/NAME/study.db``. ``warm_start: recipes`` (fine-tuning only) queues the model
family's published recipes: the values of parameters in the space become the trial's parameters,
every other key the recipe sets is kept as a run override (so a recipe keeps all of its keys).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunesmith.config.experiment import StudyConfig, WarmStartConfig, default_storage_url
from tunesmith.errors import ConfigError, TunesmithError

log = logging.getLogger(__name__)

WARM_STARTED = "tunesmith_warm_started"
"""Study user attribute: the warm start ran (its value: how many trials it added)."""


def project(recipe: Mapping[str, Any], space: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Split a recipe into (space parameters, run overrides); None if a value is out of range.

    A recipe names config paths; each lands on the space parameter that writes that path (a
    strategy's own variant, ``train.optimizer.lr@full``, included) when that parameter is active
    for the recipe's choices. Every key no active parameter writes is kept as an override.
    """
    from tunesmith.config.search import param_path

    dists = space.distributions()
    params: dict[str, Any] = {}
    for name in space.names:
        path = param_path(name)
        dist = dists.get(name)
        if dist is None or path not in recipe or not space.is_active(name, params):
            continue
        value = recipe[path]
        try:
            dist.to_internal_repr(value)
        except (ValueError, TypeError):
            return None
        if hasattr(dist, "low") and not dist.low <= value <= dist.high:
            return None
        params[name] = value
    written = {param_path(name) for name in params}
    overrides = {k: v for k, v in recipe.items() if k not in written}
    return params, overrides


def recipe_runs(
    recipes: Iterable[Mapping[str, Any]], space: Any, limit: int | None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The distinct (space parameters, overrides) of ``recipes`` that fit ``space``, at most
    ``limit`` of them, in the recipes' order."""
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for recipe in recipes:
        split = project(recipe, space)
        if split is not None and split[0] and split not in seen:
            seen.append(split)
    return seen[:limit]


def find_source(ws: WarmStartConfig, study: StudyConfig) -> tuple[Any, str]:
    """The earlier study ``ws.study`` (opened read-only) and its URL; ConfigError if missing."""
    from tunesmith.storage.study import load_existing_study
    from tunesmith.storage.urls import is_memory, redact

    assert ws.study is not None
    if ws.storage is not None:
        candidates = [ws.storage]
    else:
        candidates = [u for u in (study.storage, default_storage_url(ws.study)) if u]
    errors: list[str] = []
    for url in dict.fromkeys(u for u in candidates if not is_memory(u)):
        if ws.study == study.name and url == study.storage_url():
            raise ConfigError(
                f"warm_start.study: {ws.study!r} is this study itself ({redact(url)}); "
                "name an earlier study"
            )
        try:
            return load_existing_study(ws.study, url), url
        except TunesmithError as exc:
            errors.append(str(exc))
    raise ConfigError(
        f"warm_start.study: no study {ws.study!r} found; looked in "
        f"{', '.join(redact(u) for u in dict.fromkeys(candidates))} ({'; '.join(errors)}); "
        "set warm_start.storage to the database that holds it"
    )


def copy_trials(study: Any, space: Any, earlier: Any, name: str) -> int:
    """Copy ``earlier``'s complete trials that fit ``space`` into ``study``; return how many."""
    from optuna.trial import TrialState

    from tunesmith.storage.study import WARM_START_FROM, add_finished_trial

    have = [d.name.lower() for d in earlier.directions]
    want = [d.name.lower() for d in study.directions]
    if have != want:
        raise ConfigError(
            f"warm_start.study: {name!r} optimises {have}, this study {want}; "
            "its values cannot be copied"
        )
    dists = space.distributions()
    added = 0
    for t in earlier.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if not t.params or not set(t.params) <= set(dists) or t.values is None:
            continue
        try:
            add_finished_trial(
                study,
                t.params,
                {k: dists[k] for k in t.params},
                t.values,
                {WARM_START_FROM: f"{name}#{t.number}"},
            )
            added += 1
        except ValueError:
            log.info("warm start: trial %d of %s does not fit this space", t.number, name)
    return added


def warm_start(
    ws: WarmStartConfig | None,
    study_cfg: StudyConfig,
    space: Any,
    study: Any,
    recipes: Iterable[Mapping[str, Any]] = (),
) -> int:
    """Queue ``recipes`` (at most ``ws.max_recipes``) and copy ``ws.study``, once per study."""
    from tunesmith.storage.study import RUN_OVERRIDES, enqueue

    if ws is None or study.user_attrs.get(WARM_STARTED) is not None:
        return 0
    added = 0
    if ws.recipes:
        for params, overrides in recipe_runs(recipes, space, ws.max_recipes):
            enqueue(study, params, {RUN_OVERRIDES: overrides} if overrides else None)
            added += 1
    if ws.study is not None:
        earlier, _ = find_source(ws, study_cfg)
        added += copy_trials(study, space, earlier, ws.study)
    study.set_user_attr(WARM_STARTED, added)
    log.info("warm start: %d trial(s) from %s", added, ws)
    return added


def open_warm_started(
    ws: WarmStartConfig | None,
    study_cfg: StudyConfig,
    space: Any,
    recipes: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """Open the study, warm-start it once; return its storage for ``run_study`` (None: no warm
    start asked, so nothing is opened here)."""
    from tunesmith.storage.study import make_storage, open_study

    if ws is None:
        return None
    storage = make_storage(study_cfg.storage_url())
    study = open_study(
        study_cfg.name, study_cfg.storage_url(), study_cfg.all_directions, storage=storage
    )
    warm_start(ws, study_cfg, space, study, recipes)
    return storage
