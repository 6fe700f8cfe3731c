"""Head-only fine-tuning jobs trained together on cached features (:mod:`.batched_heads`).

Jobs that train only a new dropout + linear head on a frozen backbone differ, once the backbone's
features are cached, only in the head's settings. :func:`run_head_jobs` takes several such job
configs that share their data, model, batch size, epochs, patience and seed (:func:`share_key`),
reads the data and the cached features once, and trains every head in one
:func:`~tunesmith.engine.batched_heads.train_heads` call. Each job gets what
:func:`~tunesmith.engine.job.run_job` gives a search trial: the validation metrics of its best
epoch, its best epoch, why it stopped, one record per epoch (``metrics.jsonl``) and, when asked,
its trained weights in the model's own format (so a later run of the same config can load them).

A job trained here gets the same numbers alone as beside others; they differ from what
:func:`~tunesmith.engine.loop.fit` gives the same config (other initial draw, batch order and
dropout stream), so a caller sends a given config always down one of the two paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.engine.batched_heads import LOSSES, HeadConfig, train_heads

ADAM_DEFAULTS = ((0.9, 0.999), 1e-8)


def blocker(cfg: FinetuneConfig) -> str | None:
    """Why ``cfg`` cannot train as a batched head job; None when it can.

    Checked from the config alone: the model and the data are checked again when read
    (:class:`NotBatchable`).
    """
    t = cfg.train
    checks = [
        (t.freezing.strategy == "head", "train.freezing.strategy is not head"),
        (cfg.distill is None, "distill is set"),
        (cfg.data.kfold is None, "data.kfold is set"),
        (cfg.model.replace_head, "model.replace_head is false"),
        (cfg.data.task == "classification", "data.task is not classification"),
        (t.resolved_metric(cfg.data.task) == "accuracy", "the metric is not accuracy"),
        (t.optimizer.name == "adamw", "train.optimizer.name is not adamw"),
        (
            (tuple(t.optimizer.betas), t.optimizer.eps) == ADAM_DEFAULTS,
            "train.optimizer betas/eps are not the defaults",
        ),
        (t.grad_accum_steps == 1, "train.grad_accum_steps is not 1"),
        (t.max_grad_norm is None, "train.max_grad_norm is set"),
        (t.eval_every_steps is None, "train.eval_every_steps is set"),
        (not t.group_by_length, "train.group_by_length is true"),
        (t.loss.name in LOSSES, f"train.loss.name is not one of {', '.join(LOSSES)}"),
        (t.loss.class_weights is None, "train.loss.class_weights is set"),
        (t.loss.alpha is None, "train.loss.alpha is set"),
        (
            t.regularization.l1 == t.regularization.l2 == t.regularization.l2_sp == 0,
            "train.regularization is set",
        ),
        (t.early_stopping.min_delta == 0, "train.early_stopping.min_delta is not 0"),
        (t.schedule.horizon_epochs is None, "train.schedule.horizon_epochs is set"),
    ]
    return next((why for ok, why in checks if not ok), None)


def share_key(cfg: FinetuneConfig) -> Hashable:
    """What the jobs of one :func:`run_head_jobs` call must share: the data, the model (the
    head's dropout aside), the batch size, epochs, patience, precision, device and seed."""
    model = cfg.model.model_dump(mode="json", exclude={"dropout"})
    t = cfg.train
    return json.dumps(
        [
            model,
            cfg.data.model_dump(mode="json"),
            [t.batch_size, t.epochs, t.early_stopping.patience, t.precision, t.device, cfg.seed],
        ],
        sort_keys=True,
    )


def head_config(cfg: FinetuneConfig) -> HeadConfig:
    """The head settings of ``cfg`` as :func:`train_heads` takes them."""
    t = cfg.train
    return HeadConfig(
        lr=t.optimizer.lr,
        weight_decay=t.optimizer.weight_decay,
        dropout=cfg.model.head_dropout,
        loss=t.loss.name,
        label_smoothing=t.loss.label_smoothing,
        focal_gamma=t.loss.gamma,
        seed=cfg.seed,
        schedule=t.schedule,
    )


class NotBatchable(Exception):
    """The model or the data turned out unfit for a batched head job (augmented training data,
    a head that is not dropout + linear); the caller trains the jobs one by one instead."""


@dataclass
class HeadJobResult:
    """One job's outcome: what a search trial reads from a ``JobResult``."""

    val_metrics: dict[str, float]
    best_epoch: int | None
    reason: str
    history: list[dict[str, Any]]


StopFn = Callable[[int, int, float], bool]
"""``should_stop(job, step, accuracy) -> bool``: ``step`` is the 1-based epoch; True prunes."""


def run_head_jobs(
    cfgs: Sequence[FinetuneConfig],
    *,
    feature_cache: Any,
    should_stop: StopFn | None = None,
    save_weights: Sequence[str | Path | None] | None = None,
    metrics_paths: Sequence[str | Path | None] | None = None,
    refit_on_validation: bool = False,
) -> list[HeadJobResult]:
    """Train the heads of ``cfgs`` (equal :func:`share_key`, no :func:`blocker`) together.

    ``refit_on_validation``: train on train + validation for ``train.epochs`` epochs and keep
    the last epoch (as :class:`~tunesmith.engine.job.JobPlan` says for a regular job)."""
    import torch

    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.job import _check_modality, model_preprocessing
    from tunesmith.engine.models.registry import build_model
    from tunesmith.engine.seeding import rng_restored, seed_everything

    if not cfgs:
        return []
    first = cfgs[0]
    keys = {share_key(c) for c in cfgs}
    if len(keys) > 1 or any(blocker(c) for c in cfgs):
        raise ValueError("run_head_jobs: the configs must share share_key() and be batchable")
    data = build_data(
        first.data,
        image_size=first.model.image_size,
        preprocessing=model_preprocessing(first),
        merge_validation=refit_on_validation,
    )
    if not data.train.deterministic:
        raise NotBatchable("the training data is augmented: its features cannot be cached")
    seed_everything(first.seed)
    with rng_restored():
        built = build_model(first.model, num_outputs=data.num_outputs)
    _check_modality(data, built)
    head = built.model.head
    if not (
        isinstance(head, torch.nn.Sequential)
        and len(head) == 2
        and isinstance(head[0], torch.nn.Dropout)
        and isinstance(head[1], torch.nn.Linear)
    ):
        raise NotBatchable(f"the model's head is {type(head).__name__}, not dropout + linear")
    train, val = _features(first, data, built, feature_cache)
    x, y = train["features"].float(), train["labels"].long()
    vx, vy = val["features"].float(), val["labels"].long()
    ask = (
        None if should_stop is None else (lambda i, epoch, score: should_stop(i, epoch + 1, score))
    )
    heads = train_heads(
        x,
        y,
        vx,
        vy,
        [head_config(c) for c in cfgs],
        epochs=first.train.epochs,
        batch_size=first.train.batch_size,
        patience=None if refit_on_validation else first.train.early_stopping.patience,
        seed=first.seed,
        should_stop=ask,
        num_classes=data.num_outputs,
        keep_last=refit_on_validation,
    )
    steps = -(-len(y) // first.train.batch_size)
    out = []
    for i, res in enumerate(heads):
        history = [
            {"epoch": e, "step": (e + 1) * steps, "accuracy": s, "train_loss": loss, "lr": lr}
            for e, (s, loss, lr) in enumerate(
                zip(res.scores, res.train_losses, res.lrs, strict=True)
            )
        ]
        path = metrics_paths[i] if metrics_paths else None
        if path is not None:
            from tunesmith.engine.callbacks import _json_line

            with Path(path).open("a", encoding="utf-8") as fh:
                fh.writelines(_json_line(r) + "\n" for r in history)
        out.append(
            HeadJobResult(
                _val_metrics(res, vx, vy, data.task), res.best_epoch, _reason(res, first), history
            )
        )
        target = save_weights[i] if save_weights else None
        if target is not None and res.weight is not None:
            from tunesmith.engine.weights import save_trained

            with torch.no_grad():
                head[1].weight.copy_(res.weight)
                head[1].bias.copy_(res.bias)
            save_trained(built.model, target, {"best_epoch": res.best_epoch})
    return out


def _features(cfg: FinetuneConfig, data: Any, built: Any, cache: Any) -> tuple[Any, Any]:
    """The backbone's features of the train and validation splits, under the keys
    :func:`~tunesmith.engine.job.run_job` gives them (one cache serves both paths)."""
    from tunesmith.engine.device import autocast_dtype, resolve_device
    from tunesmith.engine.feature_cache import FeatureCache, feature_entries
    from tunesmith.engine.sampling import LoaderRequest

    t = cfg.train
    dev = resolve_device(t.device)
    built.model.to(dev)
    extra = json.dumps(
        [data.train.fingerprint(), data.validation.fingerprint(), built.preprocessing],
        sort_keys=True,
    )
    request = LoaderRequest(
        data.train,
        data.validation,
        t.batch_size,
        built.collate_fn,
        cfg.seed,
        dev,
        autocast_dtype(t.precision, dev),
        f"{extra}|{t.precision}",
    )
    train, val = feature_entries(
        cache if cache is not None else FeatureCache(), built.model, request
    )
    built.model.to("cpu")
    return train, val


def _val_metrics(res: Any, vx: Any, vy: Any, task: str) -> dict[str, float]:
    """Every validation metric of the head's best epoch, as the regular evaluation computes them."""
    import torch

    from tunesmith.engine.loop import _to_outputs
    from tunesmith.engine.metrics import compute_metrics

    if res.weight is None:
        return {}
    with torch.no_grad():
        raw = (vx @ res.weight.T + res.bias).float().numpy()
    return compute_metrics(vy.numpy(), _to_outputs(raw, task), task)


def _reason(res: Any, cfg: FinetuneConfig) -> str:
    if res.reason == "early_stopped":
        bad = len(res.scores) - 1 - (res.best_epoch or 0)
        return f"early stopping: no improvement in {bad} evaluations"
    return str(res.reason)
