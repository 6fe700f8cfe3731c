"""The few Optuna internals tunesmith needs, one function each, and nowhere else.

Every private attribute of Optuna that tunesmith touches is read or written here, so an Optuna
upgrade that renames one breaks this module alone; ``tests/storage/test_optuna_internals.py``
pins each of them with a message naming what changed. Optuna is imported only under
``TYPE_CHECKING``: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunesmith.errors import TunesmithError

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

GRID_ATTRS = ("_search_space", "_param_names", "_all_grids", "_n_min_trials")
"""The GridSampler attributes :func:`configure_grid` replaces."""


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage object behind ``study``.

    ``Study`` has no public accessor for it; tunesmith needs it to write a trial's owner and
    lease in the same write that creates the trial, and to fail another process's trial.
    """
    return study._storage  # type: ignore[no-any-return]


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study`` (storage calls take it; ``Study`` exposes only the name)."""
    return study._study_id  # type: ignore[no-any-return]


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a live or frozen trial.

    Storage calls take this id, not the trial number; neither ``Trial`` nor ``FrozenTrial``
    exposes it publicly.
    """
    return trial._trial_id  # type: ignore[no-any-return]


def clear_trial_cache(study: optuna.Study) -> None:
    """Drop the study's cached trial list, so trials written straight to the storage are seen.

    Optuna's samplers read trials through a per-thread cache that only ``ask`` and ``tell``
    clear; there is no public way to clear it after writing to the storage directly.
    """
    study._thread_local.cached_all_trials = None


def stored_trial(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> FrozenTrial:
    """The stored record of one trial, read by its id.

    The public ``Study.get_trials`` reads every trial of the study to return one.
    """
    return study_storage(study).get_trial(trial_id(trial))


def grid_size(sampler: Any) -> int | None:
    """The number of points of a ``GridSampler`` (``None`` for any other sampler).

    ``GridSampler.is_exhausted`` counts finished trials only; the coordinator also counts running
    ones (each holds its ``grid_id`` system attribute) so as not to ask past the end of the grid.
    """
    if not hasattr(sampler, "is_exhausted"):
        return None
    return getattr(sampler, "_n_min_trials", None)


def configure_grid(
    sampler: Any,
    search_space: Mapping[str, Sequence[Any]],
    grids: Sequence[tuple[Any, ...]],
) -> None:
    """Make a ``GridSampler`` enumerate exactly ``grids``, not the product of ``search_space``.

    ``grids`` holds one tuple per point, its values in the order of ``sorted(search_space)``
    (``None`` for a parameter the point never asks for), in the order to try them. Optuna's
    ``GridSampler`` accepts only a full product, which on a conditional space repeats each point
    once per value of every inactive child. Replacing its four grid attributes keeps the rest of
    its bookkeeping (unvisited ids, the per-trial ``grid_id``, stopping when exhausted).
    """
    missing = [name for name in GRID_ATTRS if not hasattr(sampler, name)]
    if missing:
        raise TunesmithError(
            f"{type(sampler).__name__} has no {', '.join(missing)}: this Optuna version changed "
            "GridSampler's internals; tunesmith.storage.internals.configure_grid needs updating"
        )
    names = sorted(search_space)
    sampler._search_space = {name: list(search_space[name]) for name in names}
    sampler._param_names = names
    sampler._all_grids = [tuple(point) for point in grids]
    sampler._n_min_trials = len(sampler._all_grids)


def trial_system_attrs(trial: optuna.Trial) -> dict[str, Any]:
    """A live trial's system attributes as read when it was created (``fixed_params`` for a
    trial popped from the queue). ``Trial`` no longer exposes them; reading the stored trial
    again would cost a storage round trip per trial."""
    return dict(trial._cached_frozen_trial.system_attrs)


class _TrialsView:
    """A study whose trial lists pass through ``transform`` (see :func:`study_view`)."""

    def __init__(self, study: optuna.Study, transform: Any) -> None:
        self._view_study = study
        self._view_transform = transform

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view_study, name)

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Any = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = self._view_study._get_trials(deepcopy=False, states=None, use_cache=use_cache)
        shown = self._view_transform(trials)
        return [t for t in shown if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()


def study_view(study: optuna.Study, transform: Any) -> Any:
    """``study`` as a sampler sees it, with every trial list passed through ``transform``
    (``list[FrozenTrial] -> list[FrozenTrial]``, e.g. failed trials shown as complete).

    Optuna's samplers read trials through the private ``Study._get_trials`` (with its cache); the
    view answers that call and delegates everything else to ``study``. Nothing is written through
    it: the stored trials stay as they are.
    """
    return _TrialsView(study, transform)


def rdb_engine(study: optuna.Study) -> Any:
    """The SQLAlchemy engine behind a study on a database, or None (an in-memory study).

    Optuna wraps its ``RDBStorage`` in a private caching layer (``_backend``) and exposes the
    engine only on the inner object; tunesmith needs it to take a study-wide lock.
    """
    storage = study_storage(study)
    backend = getattr(storage, "_backend", storage)
    return getattr(backend, "engine", None)


def rdb_schema() -> Any:
    """Optuna's table models for a database study (``optuna.storages._rdb.models``).

    The write-behind layer (:mod:`tunesmith.storage.writebehind`) writes a batch of trials with
    a few multi-row statements on these tables instead of one ORM transaction per field.
    """
    from optuna.storages._rdb import models

    return models
