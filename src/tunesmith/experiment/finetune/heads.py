"""Batched head trials: several head-only search trials trained in one pass over cached features.

With ``FinetuneObjective.batch_heads`` on (the cost-aware default search), every search trial
whose job can train as a batched head job (:func:`tunesmith.engine.head_jobs.blocker` finds
nothing) runs here, alone (a group of one) or
with the trials the coordinator grouped under the same :func:`group_key`. Every member gets what
a single trial gets: its own folder (``config.yaml``, ``params.json``, ``metrics.jsonl``, its
weights), its per-epoch reports through its own reporter (a prune answer stops that member
alone), and the same returned record; the batched engine gives each head the same numbers
whichever heads ran beside it, so a trial's result does not depend on its group.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from tunesmith.engine.weights import WEIGHTS_FILE
from tunesmith.experiment.results import SETUP_SECONDS

# ``objective`` below is a FinetuneObjective (not imported: it imports this module).
FinetuneObjective = Any

log = logging.getLogger(__name__)


def batchable(objective: FinetuneObjective, job: Any) -> bool:
    """Whether ``job`` (a validated trial config) runs as a batched head trial."""
    from tunesmith.engine.head_jobs import blocker

    return (
        objective.batch_heads
        and objective.mode == "search"
        and not objective.measure_cost
        and blocker(job) is None
    )


def group_key(objective: FinetuneObjective, params: dict[str, Any]) -> Hashable | None:
    """What the trials trained together must share; None for a trial that is not batchable
    (or whose config does not validate: it runs alone and reports its own error)."""
    from tunesmith.engine.head_jobs import share_key
    from tunesmith.errors import ConfigError
    from tunesmith.experiment.finetune.trialjob import job_mapping, validate_job

    try:
        job = validate_job(job_mapping(objective.base, params), "trial config")
    except ConfigError:
        return None
    return share_key(job) if batchable(objective, job) else None


def run_group(
    objective: FinetuneObjective, params_list: Sequence[dict[str, Any]], reporters: Sequence[Any]
) -> list[Any]:
    """Run the trials ``params_list`` together; one entry per member, in order: its record
    (what :meth:`FinetuneObjective.__call__` returns), the exception it ended with, or, for a
    member its reporter pruned, a :class:`~tunesmith.runners.base.TrialPruned`."""
    from tunesmith.runners.base import TrialPruned

    return [
        TrialPruned() if pruned else entry
        for entry, pruned in run_head_trials(objective, params_list, reporters)
    ]


def run_head_trials(
    objective: FinetuneObjective, params_list: Sequence[dict[str, Any]], reporters: Sequence[Any]
) -> list[tuple[Any, bool]]:
    """Run the trials ``params_list``: the batchable ones together (one
    :func:`~tunesmith.engine.head_jobs.run_head_jobs` call per :func:`group_key`), the others one
    by one. One ``(record or exception, pruned?)`` per member, in order."""
    from tunesmith.engine.head_jobs import NotBatchable, run_head_jobs, share_key
    from tunesmith.experiment.finetune.trialjob import (
        job_mapping,
        validate_job,
        write_trial_config,
    )

    out: list[tuple[Any, bool]] = [(None, False)] * len(params_list)
    jobs: list[tuple[int, Any, Path]] = []
    for i, (params, reporter) in enumerate(zip(params_list, reporters, strict=True)):
        folder = objective.trial_folder(reporter)
        try:
            job = validate_job(job_mapping(objective.base, params), f"trial {reporter.key} config")
            write_trial_config(folder, job, params)
        except Exception as exc:  # this member's error; the others still train
            out[i] = (exc, False)
            continue
        if not batchable(objective, job):
            out[i] = _alone(objective, params, reporter)
            continue
        jobs.append((i, job, folder))
    by_key: dict[Hashable, list[tuple[int, Any, Path]]] = {}
    for member in jobs:  # the coordinator groups equal keys; a caller may not
        by_key.setdefault(share_key(member[1]), []).append(member)
    for members in by_key.values():
        cache = objective._feature_cache()
        built = cache.build_seconds
        try:
            results = run_head_jobs(
                [job for _, job, _ in members],
                feature_cache=cache,
                should_stop=_asker([reporters[i] for i, *_ in members]),
                save_weights=[
                    f / WEIGHTS_FILE if objective.keep_weights else None for *_, f in members
                ],
                metrics_paths=[f / "metrics.jsonl" for *_, f in members],
            )
        except NotBatchable as exc:
            log.info("head trials: %s; training them one by one", exc)
            for i, *_ in members:
                out[i] = _alone(objective, params_list[i], reporters[i])
            continue
        except Exception as exc:  # a shared failure (the data, the model): every member's
            for i, *_ in members:
                out[i] = (exc, False)
            continue
        setup = round((cache.build_seconds - built) / len(members), 3)
        for (i, _, _), res in zip(members, results, strict=True):
            record = _record(objective.metric, res)
            if setup > 0:  # each member's share of building the features
                record[SETUP_SECONDS] = setup
            out[i] = (record, res.reason == "pruned")
    return out


def retrain_head(
    objective: FinetuneObjective, job: Any, folder: Path, *, refit: bool = False
) -> Path | None:
    """For the final run of a batched head winner: train it the batched way (a group of one),
    save the weights in ``folder`` and return their path, for the final run to evaluate and
    export. Used when the search's saved weights are missing or do not fit (the model the search
    scored, again), and for ``refit`` (train + validation, the last epoch kept). None when
    ``job`` is not a batched head job."""
    from tunesmith.engine.head_jobs import NotBatchable, blocker, run_head_jobs

    if objective.measure_cost or blocker(job) is not None:
        return None
    target = folder / WEIGHTS_FILE
    try:
        (res,) = run_head_jobs(
            [job],
            feature_cache=objective._feature_cache(),
            save_weights=[target],
            refit_on_validation=refit,
        )
    except NotBatchable:
        return None
    log.info(
        "final: trained the batched head winner %s", "on train + validation" if refit else "again"
    )
    return target if res.best_epoch is not None else None


def _asker(reporters: Sequence[Any]) -> Any:
    """``should_stop(job, step, score)`` asking that job's own reporter."""

    def ask(job: int, step: int, score: float) -> bool:
        return bool(reporters[job].report(step, score))

    return ask


def _alone(objective: FinetuneObjective, params: dict[str, Any], reporter: Any) -> tuple[Any, bool]:
    """A member trained by the regular job (as a trial without batching is)."""
    try:
        record = objective.run_regular(params, reporter)
    except Exception as exc:
        return exc, False
    return record, bool(getattr(reporter, "pruned", False))


def _record(metric: str, res: Any) -> dict[str, Any]:
    """The trial's record from a :class:`~tunesmith.engine.head_jobs.HeadJobResult`, keyed as
    :meth:`FinetuneObjective.__call__` keys a regular job's."""
    val = res.val_metrics
    epoch = None if res.best_epoch is None else res.best_epoch + 1
    out: dict[str, Any] = {metric: val.get(metric, math.nan), "best_epoch": epoch}
    out.update({f"val_{k}": v for k, v in val.items()})
    out["stop_reason"] = res.reason
    return out
