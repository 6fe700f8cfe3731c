"""The fine-tuning objective: one trial = the base job config + sampled values at dotted paths.

A trial writes its complete, re-runnable config to ``runs/<study>/trials/<number>/config.yaml``,
trains with per-epoch reports to the pruner, and returns the best epoch's validation metrics (never
the last epoch's). The test split is never read here: ``evaluate_test`` is only true in the final
phase (:mod:`tunesmith.experiment.finetune.phases`).

Objects of :class:`FinetuneObjective` travel to worker processes by value; the feature cache they
create lives in the worker and keeps the frozen backbone's outputs between trials.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from tunesmith.engine.weights import WEIGHTS_FILE, WeightsError
from tunesmith.errors import ConfigError
from tunesmith.experiment.finetune.trialjob import (
    job_mapping,
    validate_job,
    with_horizon,
    write_trial_config,
)
from tunesmith.experiment.results import SETUP_SECONDS

log = logging.getLogger(__name__)

JOB_SECTIONS = ("model", "data", "train", "seed", "distill")
__all__ = [
    "FinetuneObjective",
    "job_mapping",
    "validate_job",
    "with_horizon",
    "write_trial_config",
]


@dataclass
class FinetuneObjective:
    """Run one fine-tuning job for a trial and return its validation metrics.

    ``mode`` is ``search`` (per-evaluation reports to the pruner, no test split) or ``final``
    (no pruning, test split evaluated once, model exported to ``export_dir``). ``cache_dir`` keeps
    what the frozen layers computed on disk, shared by every worker and phase of the study.

    ``keep_weights``: a trial that completes saves its trained weights in its folder
    (``weights.safetensors``). ``reuse_from``: in the final phase, a trial folder whose saved
    weights come from the very same job config; they are loaded and evaluated instead of
    training the model again. ``train_on_validation``: in the final phase, train on train +
    validation for the given ``train.epochs`` (no early stopping) and keep the last epoch.
    ``merge_lora``: the final export folds LoRA adapters into the base weights.
    ``horizon_epochs``: every run's LR schedule spans this many epochs (where it depends on the
    run's length), so a run of fewer epochs is the start of a longer one
    (:mod:`tunesmith.experiment.finetune.epochs`). ``final_reports``: in the final phase, report
    each evaluation too, so that the phase's deadline can stop a training that would overrun the
    budget (there is no pruner there). ``measure_cost``: each run also returns its inference
    latency and parameter counts (``latency_ms``, ``latency_batch_size``, ``params``,
    ``params_trainable``), the cost objectives of a multi-objective study. ``batch_heads``: search
    trials that train only a dropout + linear head on cached features run as batched head trials
    (:mod:`tunesmith.experiment.finetune.heads`), alone or grouped by :meth:`group_key`
    (:meth:`run_group`); the cost-aware default search sets it.
    """

    seeds_itself = True  # the job seeds from its config's seed, in the worker that runs it

    base: dict[str, Any]
    metric: str
    trials_dir: str
    mode: str = "search"
    export_dir: str | None = None
    cache_dir: str | None = None
    keep_weights: bool = True
    reuse_from: str | None = None
    train_on_validation: bool = False
    search_scores: dict[str, float] | None = None
    merge_lora: bool = False
    measure_cost: bool = False
    horizon_epochs: int | None = None
    final_reports: bool = False
    batch_heads: bool = False
    _cache: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Relative data/model paths mean "from the folder the study runs in": pin them now, in the
        # coordinator, so trial configs re-run from their own folder and workers elsewhere (Ray)
        # read the same files. Already absolute paths are left as they are.
        from tunesmith.config.finetune import resolve_paths

        self.base = resolve_paths(self.base, Path.cwd())

    @property
    def default_metric(self) -> str:
        return self.metric

    def phase(
        self,
        trials_dir: str,
        mode: str = "search",
        export_dir: str | None = None,
        reuse_from: str | None = None,
        train_on_validation: bool = False,
        search_scores: dict[str, float] | None = None,
        final_reports: bool = False,
    ) -> FinetuneObjective:
        """The same job for another phase (re-check, final): new folder, mode and export.

        ``search_scores``: with ``train_on_validation``, the winner's validation metrics from
        the search, reported as the final trial's (see :meth:`__call__`).
        """
        return replace(
            self,
            trials_dir=trials_dir,
            mode=mode,
            export_dir=export_dir,
            reuse_from=reuse_from,
            train_on_validation=train_on_validation,
            search_scores=search_scores,
            final_reports=final_reports,
            _cache=None,
        )

    def report_steps(self, params: Mapping[str, Any]) -> int | None:
        """The last step a trial with ``params`` reports (its epochs, times its folds), when
        it evaluates once per epoch; None otherwise. The deadline projects a trial's finish
        from it (:mod:`tunesmith.experiment.deadline`)."""
        job = validate_job(job_mapping(self.base, params), "a trial config")
        if job.train.eval_every_steps is not None:
            return None
        return int(job.train.epochs) * int(job.data.kfold or 1)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def _feature_cache(self) -> Any:
        if self._cache is None:
            from tunesmith.engine.feature_cache import FeatureCache

            # In memory for the trials of this worker; on disk (cache_dir) for the other workers
            # and the re-check and final phases, which run in fresh processes.
            self._cache = FeatureCache(directory=self.cache_dir)
        return self._cache

    def trial_folder(self, reporter: Any) -> Path:
        """The trial's folder: ``<trials_dir>/<number>`` (``trial`` without a number)."""
        key = getattr(reporter, "key", None)
        return Path(self.trials_dir) / (f"{key:05d}" if isinstance(key, int) else "trial")

    def group_key(self, params: dict[str, Any]) -> Hashable | None:
        """Trials with equal keys (not None) may train together in one :meth:`run_group`."""
        from tunesmith.experiment.finetune.heads import group_key

        return group_key(self, params)

    def run_group(self, params_list: list[dict[str, Any]], reporters: list[Any]) -> list[Any]:
        """Run several trials in this worker; one record, exception or
        :class:`~tunesmith.runners.base.TrialPruned` per member, in order."""
        from tunesmith.experiment.finetune.heads import run_group

        return run_group(self, params_list, reporters)

    def __call__(self, params: dict[str, Any], reporter: Any) -> dict[str, Any]:
        if self.batch_heads and self.mode == "search":
            from tunesmith.experiment.finetune.heads import run_head_trials

            # A lone trial runs as a group of one: its result does not depend on its company.
            ((record, _),) = run_head_trials(self, [params], [reporter])
            if isinstance(record, BaseException):
                raise record
            return dict(record)
        return self.run_regular(params, reporter)

    def run_regular(self, params: dict[str, Any], reporter: Any) -> dict[str, Any]:
        """The trial as one regular job (:func:`~tunesmith.engine.job.run_job`)."""
        from tunesmith.engine.callbacks import ReportCallback
        from tunesmith.engine.job import JobPlan, run_job

        key = getattr(reporter, "key", None)
        folder = self.trial_folder(reporter)
        final = self.mode == "final"
        refit = final and self.train_on_validation
        mapping = job_mapping(self.base, params)
        if refit:  # a fixed number of epochs: nothing left to stop early on
            mapping = job_mapping(mapping, {"train.early_stopping.patience": None})
        job = with_horizon(
            mapping, validate_job(mapping, f"trial {key} config"), self.horizon_epochs
        )
        write_trial_config(folder, job, params)
        reports = self.mode == "search" or self.final_reports
        callbacks = [ReportCallback(reporter.report)] if reports else []
        keep = self.keep_weights and not final and job.data.kfold is None
        plan = JobPlan(
            evaluate_test=final,
            export_dir=self.export_dir if final else None,
            save_weights=folder / WEIGHTS_FILE if keep else None,
            refit_on_validation=refit,
            metrics_path=folder / "metrics.jsonl",
            merge_lora=final and self.merge_lora,
            measure_cost=self.measure_cost,
        )
        cache = self._feature_cache()
        built = cache.build_seconds
        run = partial(run_job, job, callbacks=callbacks, feature_cache=cache)
        saved = self._reusable(job) if final and not refit else None
        load = None if saved is None else replace(plan, load_weights=saved)
        retrained = None
        if final and self.batch_heads and saved is None:
            from tunesmith.experiment.finetune.heads import retrain_head

            # A batched head winner trains its final model the batched way, as the search did.
            retrained = retrain_head(self, job, folder, refit=refit)
            if retrained is not None:
                load = replace(plan, load_weights=retrained, refit_on_validation=False)
        try:
            result = run(load or plan)
        except WeightsError as exc:  # raised before the test split is read: train instead
            log.warning("final: %s; training the winner again", exc)
            result = run(plan)
        val, seen = result.val_metrics, {}
        if refit and self.search_scores is not None:
            # The retrained model has seen the validation split: its score there says nothing.
            # The trial's value is the search run's (unseen data); the other is kept, labelled.
            val, seen = dict(self.search_scores), {f"seen_val_{k}": v for k, v in val.items()}
        score = val.get(self.metric, math.nan)
        # 1-based like the reported steps (the learning curves), so "epoch 2" means the same
        # evaluation in the leaderboard, the report and the model card.
        epoch = None if result.best_epoch is None else result.best_epoch + 1
        out: dict[str, Any] = {self.metric: score, "best_epoch": epoch}
        out.update({f"val_{k}": v for k, v in val.items()})
        if final and result.test_metrics is not None:
            out.update({f"test_{k}": v for k, v in result.test_metrics.items()})
        out.update(seen)
        out.update(result.cost_metrics or {})
        # a batched head winner trained again its own way, then loaded: not the search's weights
        out["stop_reason"] = (
            "retrained" if retrained and result.reason == "loaded" else result.reason
        )
        if cache.build_seconds > built:  # what later trials reusing the cache will not pay
            out[SETUP_SECONDS] = round(cache.build_seconds - built, 3)
        return out

    def _reusable(self, job: Any) -> Path | None:
        """The saved weights of ``reuse_from`` when that trial ran exactly ``job``; else None."""
        import yaml

        if self.reuse_from is None or job.data.kfold is not None:
            return None
        source = Path(self.reuse_from)
        weights = source / WEIGHTS_FILE
        try:
            ran = yaml.safe_load((source / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return None
        if not weights.is_file() or ran != job.model_dump(mode="json", exclude={"output"}):
            log.info("final: %s has no weights of this exact config; training again", source)
            return None
        return weights


def check_space_paths(base: Mapping[str, Any], space: Any) -> None:
    """Every space parameter must land on a real job field: try one value of each, validate.

    Catches a typo such as ``train.optimiser.lr`` before any storage is opened.
    """
    for name in space.names:
        if name.split(".", 1)[0] not in JOB_SECTIONS:
            raise ConfigError(
                f"space.{name}: a fine-tuning space writes into {', '.join(JOB_SECTIONS)}; "
                f"{name!r} is outside them"
            )
        spec = space.specs[name]
        value = _example_value(spec)
        # A conditional parameter is tried under its condition (train.lora.r needs strategy lora).
        given = {k: v[0] for k, v in (getattr(spec, "when", None) or {}).items() if v}
        try:
            validate_job(job_mapping(base, {**given, name: value}), "the base job")
        except ConfigError as exc:
            raise ConfigError(f"space.{name}: setting it to {value!r} gives: {exc}") from None


def _example_value(spec: Any) -> Any:
    kind = getattr(spec, "type", None)
    if kind == "categorical":
        return spec.choices[0]
    if kind == "fixed":
        return spec.value
    if getattr(spec, "grid", None):
        return spec.grid[0]
    return spec.low
