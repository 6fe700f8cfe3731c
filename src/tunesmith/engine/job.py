"""One fine-tuning job: the single entry point a tuning trial calls.

:func:`run_job` takes the job's config (what to train) and a :class:`JobPlan` (what to do with it:
train or load saved weights, test or not, where to write), checked together before any data is
read. Order: read and validate the data (and the test split, when the plan tests) before any model
work; seed once per fold and build the model; train with :func:`tunesmith.engine.loop.fit`
(which never seeds); evaluate on validation and, when the plan says so, on test; save the weights
and export where the plan says. With ``data.kfold`` the job trains one model per fold and reports
the mean of the folds' validation metrics; the fold with the best selection score is the one
tested and exported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.data.build import DataBundle, build_data
from tunesmith.engine.data.raw import LabelMap
from tunesmith.engine.models.base import BuiltModel
from tunesmith.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPlan:
    """What a job does with its config. The default trains, evaluates the test split, and
    writes nothing.

    ``load_weights``: do not train; load the weights an earlier run of the same config saved,
    then evaluate and export as after training. ``evaluate_test``: read and evaluate the test
    split. ``export_dir``: export the finished model there. ``save_weights``: write the trained
    weights there (:mod:`tunesmith.engine.weights`). ``refit_on_validation``: train on train +
    validation for exactly ``train.epochs`` epochs and keep the last epoch's weights (the
    validation metrics then describe seen data). ``metrics_path``: append every evaluation's
    record to this ``metrics.jsonl``. ``merge_lora``: the export folds LoRA adapters into the
    base weights (a model without adapters is exported as it is). ``measure_cost``: after
    training (or loading), time the model's inference over the validation set and count its
    parameters (:mod:`tunesmith.engine.inference_cost`) into ``JobResult.cost_metrics``.
    """

    load_weights: str | Path | None = None
    evaluate_test: bool = True
    export_dir: str | Path | None = None
    save_weights: str | Path | None = None
    refit_on_validation: bool = False
    metrics_path: str | Path | None = None
    merge_lora: bool = False
    measure_cost: bool = False

    def check(self, cfg: FinetuneConfig) -> None:
        """Raise when this plan cannot run, alone or with ``cfg``."""
        if self.load_weights is not None and self.refit_on_validation:
            raise ValueError("refit_on_validation trains; load_weights loads: give one of them")
        if self.load_weights is not None and self.save_weights is not None:
            raise ValueError("save_weights saves trained weights; load_weights does not train")
        if self.refit_on_validation and cfg.data.kfold is not None:
            raise ConfigError(
                "training on train + validation needs one validation split; data.kfold is "
                f"{cfg.data.kfold}"
            )
        if self.load_weights is not None and cfg.data.kfold is not None:
            raise ConfigError("load_weights cannot be used with data.kfold")


@dataclass
class JobResult:
    """What one job produced. ``test_metrics`` is None when the test split was not evaluated."""

    val_metrics: dict[str, float]
    test_metrics: dict[str, float] | None
    best_epoch: int | None
    history: list[dict[str, Any]]
    model: Any = field(repr=False)
    label_map: LabelMap | None
    export_path: Path | None
    fold_metrics: list[dict[str, float]] | None = None
    stopped_early: bool = False
    reason: str = "completed"
    used_feature_cache: bool = False
    built: BuiltModel | None = field(default=None, repr=False)
    cost_metrics: dict[str, float] | None = None


def model_preprocessing(cfg: FinetuneConfig) -> dict[str, Any]:
    """The model-side input description that enters every dataset fingerprint."""
    m = cfg.model
    desc: dict[str, Any] = {"kind": m.kind, "name": m.resolved_name}
    if m.kind == "hf_text":
        desc.update(max_length=m.max_length)
    else:
        desc.update(image_size=m.image_size)
    return desc


def _check_modality(data: DataBundle, built: BuiltModel) -> None:
    if built.modality == "any":
        if data.modality == "text":
            raise ConfigError(
                "model.kind 'custom' takes image or array data; use model.kind 'hf_text' for text"
            )
        return
    if built.modality != data.modality:
        raise ConfigError(
            f"the data is {data.modality} but model.kind gives a {built.modality} model"
        )


def _fold_mean(fold_metrics: list[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(m) for m in fold_metrics)) if fold_metrics else set()
    return {k: float(np.mean([m[k] for m in fold_metrics])) for k in sorted(keys)}


def run_job(
    cfg: FinetuneConfig,
    plan: JobPlan | None = None,
    *,
    callbacks: Sequence[Any] = (),
    feature_cache: Any = None,
    data_access_hook: Callable[[str], None] | None = None,
    device: Any = None,
) -> JobResult:
    """Run the job ``cfg`` describes as ``plan`` says (default: :class:`JobPlan`'s).

    Each fold seeds the global RNGs once, with ``cfg.seed`` + its index, before its model is
    built; ``callbacks`` see every evaluation of every fold.
    """
    from tunesmith.engine.callbacks import MetricsLog, ReportCallback
    from tunesmith.engine.loop import fit
    from tunesmith.engine.metrics import is_better
    from tunesmith.engine.models.registry import build_model
    from tunesmith.engine.seeding import rng_restored, seed_everything

    plan = plan or JobPlan()
    plan.check(cfg)
    data = build_data(
        cfg.data,
        image_size=cfg.model.image_size,
        preprocessing=model_preprocessing(cfg),
        access_hook=data_access_hook,
        merge_validation=plan.refit_on_validation,
    )
    if plan.load_weights is not None:
        return _from_saved(cfg, data, plan, plan.load_weights, device)
    test_set = _test_split(data, plan.evaluate_test)
    if plan.metrics_path is not None:  # first: it logs an evaluation the others stop after
        callbacks = [MetricsLog(plan.metrics_path), *callbacks]

    folds = data.folds or [(data.train, data.validation)]
    metric = cfg.train.resolved_metric(data.task)
    best: tuple[Any, BuiltModel, Any] | None = None
    fold_metrics: list[dict[str, float]] = []
    reporters = [c for c in callbacks if isinstance(c, ReportCallback)]
    stride = cfg.train.epochs if cfg.train.eval_every_steps is None else 0
    scores: list[float] = []
    teacher_cache = _teacher_cache(cfg, feature_cache)
    train_set: Any
    for index, (train_set, val_set) in enumerate(folds):
        for reporter in reporters:  # k-fold steps and values: see ReportCallback
            reporter.begin_fold(index, stride, scores)
        # The fold's one seeding: the new head's initial weights and training's random streams
        # (dropout, batch order) depend on the seed alone. Building draws from torch's RNG;
        # training starts from the freshly seeded state all the same.
        seed_everything(cfg.seed + index)
        with rng_restored():
            built = build_model(cfg.model, num_outputs=data.num_outputs)
        _check_modality(data, built)
        cache = feature_cache if train_set.deterministic else None
        collate_fn, loss_wrapper = built.collate_fn, None
        if cfg.distill is not None:  # soft targets ride with the training labels
            from tunesmith.engine.distill import prepare_distillation

            kd = prepare_distillation(cfg.distill, train_set, data.label_map, teacher_cache)
            train_set, collate_fn, loss_wrapper = kd.dataset, kd.collate(collate_fn), kd.wrap_loss
        extra = json.dumps(
            [train_set.fingerprint(), val_set.fingerprint(), built.preprocessing], sort_keys=True
        )
        if len(folds) > 1:
            log.info("fold %d/%d", index + 1, len(folds))
        result = fit(
            built.model,
            train_set,
            val_set,
            cfg.train,
            collate_fn=collate_fn,
            task=data.task,
            num_outputs=data.num_outputs,
            callbacks=callbacks,
            seed=cfg.seed + index,
            device=device,
            class_counts=data.class_counts if data.folds is None else None,
            feature_cache=cache,
            cache_key_extra=extra,
            keep_last=plan.refit_on_validation,
            loss_wrapper=loss_wrapper,
        )
        val = dict(result.best_metrics) or _evaluate(cfg, data, built, val_set, device)
        val.update(_lora_metrics(built))
        fold_metrics.append(val)
        score = val.get(metric, float("nan"))
        scores.append(score)
        if best is None or is_better(score, best[2], result_greater(cfg, data.task)):
            best = (result, built, score)
        if any(r.stopped for r in reporters):
            break  # pruned: no further folds
    assert best is not None
    result, built, _ = best
    val_metrics = fold_metrics[0] if len(folds) == 1 else _fold_mean(fold_metrics)

    if plan.save_weights is not None:
        from tunesmith.engine.weights import save_trained

        save_trained(built.model, plan.save_weights, {"best_epoch": result.best_epoch})
    held_out = val_set if data.folds else data.validation  # k-fold: the last fold's
    cost = _cost(cfg, built, held_out, device) if plan.measure_cost else None
    test_metrics, export_path = _test_and_export(
        cfg, data, built, test_set, val_metrics, result.best_epoch, plan, device
    )
    return JobResult(
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        best_epoch=result.best_epoch,
        history=result.history,
        model=built.model,
        label_map=data.label_map,
        export_path=export_path,
        fold_metrics=fold_metrics if len(folds) > 1 else None,
        stopped_early=result.stopped_early,
        reason=result.reason,
        used_feature_cache=bool(getattr(result, "used_feature_cache", False)),
        built=built,
        cost_metrics=cost,
    )


def _cost(cfg: FinetuneConfig, built: BuiltModel, dataset: Any, device: Any) -> dict[str, float]:
    """Inference latency over ``dataset`` and parameter counts of the finished model."""
    from tunesmith.engine.inference_cost import measure_cost

    return measure_cost(
        built.model,
        dataset,
        collate_fn=built.collate_fn,
        batch_size=cfg.train.batch_size,
        device=device or cfg.train.device,
    )


def _teacher_cache(cfg: FinetuneConfig, feature_cache: Any) -> Any:
    """Where a distilling job keeps its teacher's outputs: the feature cache when given (one
    computation per study), else a cache of this job's own."""
    if cfg.distill is None or feature_cache is not None:
        return feature_cache
    from tunesmith.engine.feature_cache import FeatureCache

    return FeatureCache()


def _lora_metrics(built: BuiltModel) -> dict[str, float]:
    """``trainable_fraction`` for a model with adapters (nothing otherwise)."""
    from tunesmith.engine.lora import has_lora, trainable_fraction

    return {"trainable_fraction": trainable_fraction(built.model)} if has_lora(built.model) else {}


def _test_split(data: DataBundle, evaluate_test: bool) -> Any:
    test_set = data.test() if evaluate_test else None
    if evaluate_test and test_set is None:
        log.info("no test split (data.split.test is 0 and no data.test file): test not evaluated")
    return test_set


def _evaluate(
    cfg: FinetuneConfig, data: DataBundle, built: BuiltModel, dataset: Any, device: Any
) -> dict[str, float]:
    from tunesmith.engine.loop import evaluate

    return evaluate(
        built.model, dataset, collate_fn=built.collate_fn, task=data.task,
        batch_size=cfg.train.batch_size, device=device or cfg.train.device,
    )  # fmt: skip


def _test_and_export(
    cfg: FinetuneConfig,
    data: DataBundle,
    built: BuiltModel,
    test_set: Any,
    val_metrics: dict[str, float],
    best_epoch: int | None,
    plan: JobPlan,
    device: Any,
) -> tuple[dict[str, float] | None, Path | None]:
    """Evaluate the finished model on the test split (when given) and export it (when asked)."""
    from tunesmith.engine.lora import has_lora

    out_dir = plan.export_dir
    test_metrics = None
    if test_set is not None:
        test_metrics = _evaluate(cfg, data, built, test_set, device)
    export_path = None
    if out_dir is not None:
        from tunesmith.engine.export import export_model

        export_path = export_model(
            out_dir,
            built,
            model_cfg=cfg.model,
            data_cfg=cfg.data,
            task=data.task,
            label_map=data.label_map,
            preprocessing=data.preprocessing,
            metrics={
                "validation": val_metrics,
                "test": test_metrics,
                "best_epoch": best_epoch,
                **{k: v for k, v in val_metrics.items() if k == "trainable_fraction"},
            },
            hyperparameters=cfg.model_dump(mode="json"),
            merge_lora=plan.merge_lora and has_lora(built.model),
            distill=_distill_record(cfg),
        )
    return test_metrics, export_path


def _distill_record(cfg: FinetuneConfig) -> dict[str, Any] | None:
    if cfg.distill is None:
        return None
    from tunesmith.engine.distill import distill_record

    return distill_record(cfg.distill)


def _from_saved(
    cfg: FinetuneConfig, data: DataBundle, plan: JobPlan, weights: str | Path, device: Any
) -> JobResult:
    """The job's result from ``weights`` an earlier run of the same config saved: no training.

    The weights are loaded before the test split is read, so a caller may fall back to training
    when they do not fit (:class:`~tunesmith.engine.weights.WeightsError`) without a second read.
    """
    from tunesmith.engine.models.registry import build_model
    from tunesmith.engine.seeding import seed_everything
    from tunesmith.engine.weights import load_trained

    # Seeded as run_job seeds before building: a model without pretrained weights (a custom
    # factory) gets the same initial frozen layers the saved run started from.
    seed_everything(cfg.seed)
    built = build_model(cfg.model, num_outputs=data.num_outputs)
    _check_modality(data, built)
    if cfg.train.freezing.strategy == "lora":
        from tunesmith.engine.lora import apply_lora

        apply_lora(built.model, cfg.train.resolved_lora)
    best_epoch = load_trained(built.model, weights).get("best_epoch")
    built.model.train(False)
    test_set = _test_split(data, plan.evaluate_test)
    val_metrics = {**_evaluate(cfg, data, built, data.validation, device), **_lora_metrics(built)}
    log.info("loaded trained weights from %s (no training)", weights)
    cost = _cost(cfg, built, data.validation, device) if plan.measure_cost else None
    test_metrics, export_path = _test_and_export(
        cfg, data, built, test_set, val_metrics, best_epoch, plan, device
    )
    return JobResult(
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        best_epoch=best_epoch if isinstance(best_epoch, int) else None,
        history=[],
        model=built.model,
        label_map=data.label_map,
        export_path=export_path,
        reason="loaded",
        built=built,
        cost_metrics=cost,
    )


def result_greater(cfg: FinetuneConfig, task: str) -> bool:
    """Whether the selection metric of ``cfg`` grows with quality."""
    from tunesmith.engine.metrics import get_metric

    return bool(get_metric(cfg.train.resolved_metric(task)).greater_is_better)
