"""The SQL behind :mod:`tunesmith.storage.writebehind`: a RUNNING trial created in one
transaction, and many trials' changes written in one transaction with a few multi-row statements
on Optuna's tables (the same rows Optuna's own storage writes, so any Optuna reader sees a plain
study)."""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from tunesmith.storage.internals import rdb_schema

log = logging.getLogger(__name__)
SKIP = ("tid", "k")  # the statement parameters that are not columns


@dataclass
class Changes:
    """What changed in one owned trial since its last write."""

    params: dict[str, tuple[float, Any]] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    steps: dict[int, float] = field(default_factory=dict)
    values: list[float] | None = None
    state: Any = None  # a TrialState once it finished


def _utc(local: datetime.datetime) -> datetime.datetime:
    """Optuna stores naive UTC times and hands out naive local ones."""
    return local.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def insert_running(engine: Any, study_id: int, user: dict[str, Any]) -> Any:
    """One transaction: a RUNNING trial row, its number and its user attributes."""
    from optuna.trial import FrozenTrial, TrialState
    from sqlalchemy import func, insert, literal, select

    m = rdb_schema()
    trials = m.TrialModel.__table__
    now = datetime.datetime.now().astimezone()
    with engine.begin() as conn:
        if engine.dialect.name != "sqlite":  # SQLite lets one writer at a time in anyway
            # The study row's lock orders concurrent creators (PostgreSQL, MySQL), as Optuna does.
            studies = m.StudyModel.__table__
            conn.execute(
                select(studies.c.study_id).where(studies.c.study_id == study_id).with_for_update()
            )
        # The new trial's number is the count of the study's trials before it, as in Optuna,
        # counted by the statement that inserts it (under the database's write lock).
        count = select(
            func.count(trials.c.trial_id),
            literal(study_id, trials.c.study_id.type),
            literal(TrialState.RUNNING, trials.c.state.type),
            literal(_utc(now), trials.c.datetime_start.type),
        ).where(trials.c.study_id == study_id)
        columns = ["number", "study_id", "state", "datetime_start"]
        if engine.dialect.insert_returning:
            tid, number = conn.execute(
                insert(trials)
                .from_select(columns, count)
                .returning(trials.c.trial_id, trials.c.number)
            ).one()
        else:  # MySQL: insert, then read back what it wrote
            conn.execute(insert(trials).from_select(columns, count))
            tid, number = conn.execute(
                select(trials.c.trial_id, trials.c.number)
                .where(trials.c.study_id == study_id)
                .order_by(trials.c.trial_id.desc())
                .limit(1)
            ).one()
        if user:
            conn.execute(
                insert(m.TrialUserAttributeModel.__table__),
                [{"trial_id": tid, "key": k, "value_json": json.dumps(v)} for k, v in user.items()],
            )
    return FrozenTrial(
        number=int(number),
        state=TrialState.RUNNING,
        value=None,
        datetime_start=now.replace(tzinfo=None),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=user,
        system_attrs={},
        intermediate_values={},
        trial_id=int(tid),
    )


def write_changes(engine: Any, changes: dict[int, Changes], ended: dict[int, Any]) -> set[int]:
    """Write ``changes``; return the trials skipped because another process finished them."""
    from optuna.distributions import distribution_to_json
    from optuna.trial import TrialState
    from sqlalchemy import and_, bindparam, insert, select, update

    m = rdb_schema()
    trials = m.TrialModel.__table__
    with engine.begin() as conn:
        ids = list(changes)
        rows = conn.execute(
            select(trials.c.trial_id, trials.c.state).where(trials.c.trial_id.in_(ids))
        ).all()
        dropped = {int(tid) for tid, state in rows if state != TrialState.RUNNING}
        for tid in dropped:
            log.warning("trial id %d was finished by another process; changes dropped", tid)
        live = {tid: c for tid, c in changes.items() if tid not in dropped}
        params = [
            {
                "trial_id": tid,
                "param_name": name,
                "param_value": internal,
                "distribution_json": distribution_to_json(dist),
            }
            for tid, c in live.items()
            for name, (internal, dist) in c.params.items()
        ]
        if params:
            conn.execute(insert(m.TrialParamModel.__table__), params)
        for model, attr in (
            (m.TrialUserAttributeModel, "user"),
            (m.TrialSystemAttributeModel, "system"),
        ):
            rows_ = [
                {"tid": tid, "k": k, "value_json": json.dumps(v)}
                for tid, c in live.items()
                for k, v in getattr(c, attr).items()
            ]
            _replace(conn, model.__table__, "key", rows_)
        stored = m.TrialIntermediateValueModel.intermediate_value_to_stored_repr
        steps = []
        for tid, c in live.items():
            for step, value in c.steps.items():
                v, kind = stored(value)
                steps.append(
                    {
                        "tid": tid,
                        "k": step,
                        "intermediate_value": v,
                        "intermediate_value_type": kind,
                    }
                )
        _replace(conn, m.TrialIntermediateValueModel.__table__, "step", steps)
        to_value = m.TrialValueModel.value_to_stored_repr
        values = []
        for tid, c in live.items():
            for objective, value in enumerate(c.values or []):
                v, kind = to_value(value)
                values.append({"tid": tid, "k": objective, "value": v, "value_type": kind})
        _replace(conn, m.TrialValueModel.__table__, "objective", values)
        ends = [
            {"tid": tid, "state": c.state, "datetime_complete": _utc(ended[tid])}
            for tid, c in live.items()
            if c.state is not None
        ]
        if ends:
            conn.execute(
                update(trials)  # never over a state another process wrote meanwhile
                .where(
                    and_(
                        trials.c.trial_id == bindparam("tid"),
                        trials.c.state == TrialState.RUNNING,
                    )
                )
                .values(state=bindparam("state"), datetime_complete=bindparam("datetime_complete")),
                ends,
            )
    return dropped


def _replace(conn: Any, table: Any, key: str, rows: list[dict[str, Any]]) -> None:
    """Upsert ``rows`` keyed by (trial, ``key``): delete the old rows, insert the new."""
    from sqlalchemy import and_, bindparam, delete, insert

    if not rows:
        return
    conn.execute(
        delete(table).where(
            and_(table.c.trial_id == bindparam("tid"), table.c[key] == bindparam("k"))
        ),
        [{"tid": r["tid"], "k": r["k"]} for r in rows],
    )
    conn.execute(
        insert(table),
        [
            {
                "trial_id": r["tid"],
                key: r["k"],
                **{c: v for c, v in r.items() if c not in ("tid", "k")},
            }
            for r in rows
        ],
    )
