"""Create, resume, read and add to Optuna studies: the only way into a study.

A study written here is a plain Optuna study: ``optuna.load_study(study_name=..., storage=url)``
opens it, and so does ``optuna-dashboard``. Only the coordinator calls :func:`open_study`; the
read-only helpers serve ``tunesmith trials`` / ``tunesmith best`` and reports. Every URL goes
through :func:`make_storage`, which creates a SQLite file's folder; :func:`load_existing_study`
checks first that the file exists, so reading never creates anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.storage.internals import stored_trial
from tunesmith.storage.urls import is_memory, prepare_storage_url, redact, storage_exists

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

SQLITE_TIMEOUT_S = 60.0
RUN_OVERRIDES = "run_overrides"
"""User attribute of a queued fixed run: settings outside the search space (seed, epochs)."""
SCHEMA_RACE_RETRIES = 5
METRIC_NAMES = "metric_names"
"""Study user attribute: the name of each objective (``study.metric``)."""
WARM_START_FROM = "warm_start_from"
"""User attribute of a trial copied from another study (``NAME#number``): not run by this study."""


def driver_url(url: str) -> str:
    """Name an installed PostgreSQL driver when the URL names none.

    SQLAlchemy's default driver for ``postgresql://`` differs between versions (psycopg2 or
    psycopg 3); pick whichever is installed, preferring the default.
    """
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    from sqlalchemy.dialects import postgresql

    default = getattr(postgresql.dialect, "driver", "psycopg2")
    module = {"psycopg": "psycopg", "psycopg2": "psycopg2"}.get(default, default)
    if importlib.util.find_spec(module) is not None:
        return url
    for driver in ("psycopg2", "psycopg"):
        if importlib.util.find_spec(driver) is not None:
            return f"postgresql+{driver}://" + url[len("postgresql://") :]
    return url


def make_storage(url: str) -> Any:
    """An Optuna storage object for ``url`` (in-memory, or an RDB storage with sane timeouts).

    Creates the folder of a SQLite file first (opening the file creates it).
    """
    import optuna

    url = driver_url(prepare_storage_url(url))
    if is_memory(url):
        return optuna.storages.InMemoryStorage()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
    else:
        kwargs["pool_pre_ping"] = True
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            if url.startswith("sqlite"):
                _write_ahead_log(storage.engine)
            return storage
        except ImportError as exc:
            raise ConfigError(
                f"storage {redact(url)}: its database driver is not installed ({exc}); "
                "for PostgreSQL: pip install 'tunesmith[postgres]'"
            ) from None
        except Exception as exc:  # SQLAlchemy's OperationalError and friends
            # Two processes opening a new database at once both create its tables; the loser
            # sees "already exists" or a unique-constraint error. The tables are there now.
            text = str(exc)
            racing = "already exists" in text or "UNIQUE constraint failed" in text
            if racing and attempt < SCHEMA_RACE_RETRIES:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise TunesmithError(f"cannot open storage {redact(url)}: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _write_ahead_log(engine: Any) -> None:
    """Commit to a SQLite file through its write-ahead log, synced at checkpoints.

    In SQLite's default mode every commit syncs the database and its rollback journal to disk
    (several milliseconds each, and a trial makes several commits). With ``journal_mode=WAL`` and
    ``synchronous=NORMAL`` a commit appends to the ``-wal`` file; SQLite syncs it when it copies
    the log into the database (a checkpoint, every 1,000 pages by default). A committed trial
    survives the process being killed; a power cut or an operating-system crash may lose the last
    commits since the checkpoint, never the database's consistency. The journal mode is stored
    in the file; ``synchronous`` is set on every new connection.
    """
    from sqlalchemy import event

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener reconnect with it


def _directions_names(directions: Sequence[Any]) -> list[str]:
    return [getattr(d, "name", str(d)).lower() for d in directions]


def open_study(
    name: str,
    url: str,
    directions: Sequence[str],
    sampler: Any = None,
    pruner: Any = None,
    storage: Any = None,
) -> optuna.Study:
    """Create the study, or load it when one of that name exists (resume).

    An existing study must have the same directions; otherwise :class:`ConfigError`.
    ``storage`` may be a ready storage object (used for in-memory studies shared with a caller).
    """
    import optuna

    if storage is None:
        storage = make_storage(url)
    wanted = [d.lower() for d in directions]
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        study_id = None
    if study_id is not None:
        have = _directions_names(storage.get_study_directions(study_id))
        if have != wanted:
            raise ConfigError(
                f"study {name!r} in {redact(url)} was created with directions {have}; "
                f"this config asks for {wanted} (use another study.name)"
            )
        trials = storage.get_all_trials(study_id, deepcopy=False)
        n = sum(t.state != optuna.trial.TrialState.WAITING for t in trials)
        if n:
            log.info("resuming study %r from %s (%d trials there)", name, redact(url), n)
        else:  # created moments ago (e.g. to queue warm-start trials)
            log.info("study %r in %s", name, redact(url))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        directions=wanted,  # type: ignore[arg-type]
        load_if_exists=True,
    )


def load_existing_study(name: str, url: str) -> optuna.Study:
    """Open a study that must already exist (read side: ``trials``, ``best``, reports).

    A missing SQLite file or an unknown study name is a :class:`TunesmithError` (exit 2); nothing
    is created.
    """
    import optuna

    if is_memory(url):
        raise ConfigError("an in-memory study cannot be read back; give a database URL")
    if not storage_exists(url):
        raise TunesmithError(f"no study {name!r}: storage {redact(url)} does not exist")
    storage = make_storage(url)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        known = [s.study_name for s in storage.get_all_studies()]
        hint = f"; studies there: {', '.join(known)}" if known else "; it holds no study"
        raise TunesmithError(f"no study {name!r} in {redact(url)}{hint}") from None
    return optuna.load_study(study_name=name, storage=storage)


def delete_study(name: str, url: str) -> None:
    """Delete a study (tests and clean-up); a missing SQLite file is refused, not created."""
    import optuna

    if not storage_exists(url):
        raise TunesmithError(f"no study {name!r}: storage {redact(url)} does not exist")
    optuna.delete_study(study_name=name, storage=make_storage(url))


def enqueue(
    study: optuna.Study, params: Mapping[str, Any], user_attrs: Mapping[str, Any] | None = None
) -> None:
    """Queue a WAITING trial with ``params`` (even when the same params are queued already)."""
    study.enqueue_trial(
        dict(params),
        user_attrs=dict(user_attrs) if user_attrs is not None else None,
        skip_if_exists=False,
    )


def add_finished_trial(
    study: optuna.Study,
    params: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
    value: float | Sequence[float],
    user_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Add a COMPLETE trial with ``value`` (one per direction for a multi-objective study): a
    warm-start copy of another study's trial.

    Raises ``ValueError`` when a value does not fit its distribution (the trial is not added).
    """
    import optuna

    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    study.add_trial(
        optuna.trial.create_trial(
            params=dict(params),
            distributions=dict(distributions),
            values=values,
            user_attrs=dict(user_attrs) if user_attrs is not None else None,
        )
    )


def record_metric_names(study: optuna.Study, names: Sequence[str] | None) -> None:
    """Keep the objectives' names in the study's user attribute ``metric_names`` (the report
    reads them). Optuna's own metric names are left unset: they would rename the ``value``
    column of ``trials_dataframe`` (``TuneResult.trials``)."""
    if not names or len(names) != len(study.directions):
        return
    if study.user_attrs.get(METRIC_NAMES) != list(names):
        study.set_user_attr(METRIC_NAMES, list(names))


def current_trial(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """A live trial's record as stored now (state, values, attributes written so far)."""
    return stored_trial(study, trial)
