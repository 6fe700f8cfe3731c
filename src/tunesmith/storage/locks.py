"""One writer at a time for the steps that must not interleave across coordinators.

"Count the trials, then create one" and "fail an abandoned trial, then queue it again" are two
storage writes each; two coordinators doing them at the same moment could both pass the count (a
201st trial in a 200-trial study) or both re-queue the same trial. :func:`study_lock` makes each
such step exclusive per study, whatever the number of processes or hosts:

- PostgreSQL: a session advisory lock (``pg_advisory_lock(namespace, study_id)``) held on its own
  connection for the step; every write of the step commits before it is released, so the next
  holder sees them.
- MySQL: ``GET_LOCK`` on a name holding the study id, the same way.
- SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the file (SQLite itself is a
  one-host store; a ``BEGIN IMMEDIATE`` on a second connection would block Optuna's own writes
  in the step, so the lock is taken beside the database instead).
- In memory: a lock of this process (an in-memory study lives in one process only).
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator
from typing import Any

from tunesmith.storage.internals import rdb_engine, study_id

NAMESPACE = zlib.crc32(b"tunesmith.study_lock") & 0x7FFFFFFF
_MEMORY_LOCK = threading.RLock()
LOCK_TIMEOUT_S = 120


@contextlib.contextmanager
def study_lock(study: Any) -> Iterator[None]:
    """Hold the study's writer lock for the body of the ``with``."""
    engine = rdb_engine(study)
    if engine is None:
        with _MEMORY_LOCK:
            yield
        return
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with _file_lock(engine.url.database):
            yield
        return
    from sqlalchemy import text

    sid = int(study_id(study))
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:ns, :sid)"), {"ns": NAMESPACE, "sid": sid})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :sid)"), {"ns": NAMESPACE, "sid": sid}
                )
                conn.commit()
        elif dialect == "mysql":
            name = f"tunesmith-{sid}"
            conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": LOCK_TIMEOUT_S})
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        else:  # pragma: no cover - Optuna supports the three above
            yield


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        with _MEMORY_LOCK:
            yield
        return
    import fcntl

    with open(f"{database}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
