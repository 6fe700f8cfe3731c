"""The training loop: ``fit``, ``evaluate`` and ``predict``.

``fit`` reads top to bottom: seed, device, data loaders, freezing, optimizer and schedule, then
epochs of (accumulated) optimizer steps with an evaluation every epoch or every
``eval_every_steps`` steps; each evaluation goes to the callbacks, which may stop the run. The best
evaluation's weights are kept on the CPU and restored at the end.

When a :class:`FeatureCache` is given and the backbone stays frozen for the whole run, the
backbone's features are computed once per dataset and the head trains on them (see
:mod:`tunesmith.engine.feature_cache`); when only a prefix of layer groups stays frozen and the
model can run it separately, that prefix's output is cached and only the suffix and head run (see
:mod:`tunesmith.engine.prefix_cache`). Pass a cache only when the data has no random augmentation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.config.train import TrainConfig
from tunesmith.engine.callbacks import Callback, Decision, EarlyStopping, TrainState
from tunesmith.engine.device import autocast_dtype, resolve_device
from tunesmith.engine.feature_cache import FeatureCache, cached_loaders
from tunesmith.engine.freezing import Freezer, frozen_prefix
from tunesmith.engine.losses import build_loss
from tunesmith.engine.metrics import compute_metrics, get_metric, is_better
from tunesmith.engine.optim import build_optimizer
from tunesmith.engine.prefix_cache import prefix_loaders, supports_prefix
from tunesmith.engine.regularizers import Regularizer
from tunesmith.engine.sampling import example_lengths, make_loader
from tunesmith.engine.schedules import lambda_lr
from tunesmith.engine.seeding import make_generator, seed_everything
from tunesmith.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """``best_score`` is NaN when no evaluation finished (e.g. the loss diverged at once).

    ``cache_stop``: how much the feature cache served, as a layer-group index: ``n`` (every group)
    when the whole backbone's features were cached, ``s`` when groups ``[0, s)`` were, None when
    nothing was cached.
    """

    best_epoch: int | None
    best_score: float
    best_metrics: dict[str, float]
    history: list[dict[str, Any]]
    state_dict: dict[str, Any] = field(repr=False)
    stopped_early: bool
    reason: str
    used_feature_cache: bool = False
    cache_stop: int | None = None


def _to_device(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}


def _autocast(device: Any, dtype: Any) -> Any:
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _forward_full(model: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda batch: model.forward_head(model.forward_features(batch))


def _collect(
    forward: Callable[[dict[str, Any]], Any], loader: Iterable[Any], device: Any, dtype: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run ``forward`` over ``loader`` without gradients; returns (outputs, labels or None)."""
    import torch

    outs, labels = [], []
    with torch.no_grad():
        for batch in loader:
            batch = _to_device(batch, device)
            with _autocast(device, dtype):
                outs.append(forward(batch).float().cpu())
            if "labels" in batch:
                labels.append(batch["labels"].cpu())
    y = torch.cat(labels).numpy() if labels else None
    return torch.cat(outs).numpy(), y


def _to_outputs(raw: np.ndarray, task: str) -> np.ndarray:
    """Logits -> class probabilities (classification) or predictions ``[N]`` (regression)."""
    if task == "regression":
        return raw.reshape(len(raw), -1)[:, 0]
    shifted = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def predict(
    model: Any,
    dataset: Any,
    *,
    collate_fn: Any,
    task: str,
    batch_size: int = 64,
    device: Any = None,
    precision: str = "fp32",
) -> np.ndarray:
    """Class probabilities ``[N, C]`` (classification) or predictions ``[N]`` (regression)."""
    raw, _ = _run_over(model, dataset, collate_fn, batch_size, device, precision)
    return _to_outputs(raw, task)


def evaluate(
    model: Any,
    dataset: Any,
    *,
    collate_fn: Any,
    task: str,
    batch_size: int = 64,
    device: Any = None,
    precision: str = "fp32",
) -> dict[str, float]:
    """Every metric of ``task`` on ``dataset`` (which must carry ``labels``)."""
    raw, y = _run_over(model, dataset, collate_fn, batch_size, device, precision)
    if y is None:
        raise ConfigError("evaluate needs a dataset whose batches carry 'labels'")
    return compute_metrics(y, _to_outputs(raw, task), task)


def _run_over(
    model: Any, dataset: Any, collate_fn: Any, batch_size: int, device: Any, precision: str
) -> tuple[Any, np.ndarray | None]:
    """The model's raw outputs over ``dataset`` in order (eval mode), and its labels if any."""
    dev = resolve_device(device)
    model.to(dev).train(False)
    loader = make_loader(dataset, batch_size, collate_fn)
    return _collect(_forward_full(model), loader, dev, autocast_dtype(precision, dev))


def _count_classes(loader: Iterable[Any], num_classes: int) -> list[int]:
    counts = np.zeros(num_classes, dtype=np.int64)
    for batch in loader:
        counts += np.bincount(batch["labels"].reshape(-1).long().numpy(), minlength=num_classes)
    return counts.tolist()


def _labels(y: np.ndarray | None) -> np.ndarray:
    if y is None:
        raise ConfigError("the validation batches carry no 'labels'")
    return y


def _json_line(record: dict[str, Any]) -> str:
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }
    return json.dumps(clean, sort_keys=True)


def fit(
    model: Any,
    train_set: Any,
    val_set: Any,
    cfg: TrainConfig,
    *,
    collate_fn: Any,
    task: str,
    num_outputs: int,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
    metrics_path: str | Path | None = None,
    device: Any = None,
    class_counts: Sequence[int] | None = None,
    feature_cache: FeatureCache | None = None,
    cache_key_extra: str = "",
    keep_last: bool = False,
) -> FitResult:
    """Fine-tune ``model`` on ``train_set``, selecting on ``val_set`` by ``cfg``'s metric.

    ``keep_last``: keep the weights after the last epoch instead of the best evaluation's (a run
    of a fixed number of epochs whose validation set is part of the training data).
    """
    import torch

    cfg.check_task(task)
    if task == "classification" and num_outputs < 2:
        raise ConfigError(f"a classification head needs num_outputs >= 2, got {num_outputs}")
    metric = cfg.resolved_metric(task)
    greater = get_metric(metric).greater_is_better
    seed_everything(seed)
    dev = resolve_device(device if device is not None else cfg.device)
    dtype = autocast_dtype(cfg.precision, dev)
    model.to(dev)

    freezer = Freezer(model, cfg.freezing)
    freezer.start_epoch(0)
    lengths = example_lengths(train_set, collate_fn) if cfg.group_by_length else None
    train_loader = make_loader(train_set, cfg.batch_size, collate_fn, make_generator(seed), lengths)
    val_loader = make_loader(val_set, cfg.batch_size, collate_fn)
    forward = _forward_full(model)
    n_groups = len(freezer.groups)
    stop = frozen_prefix(cfg.freezing, n_groups, cfg.epochs)
    cache_stop: int | None = None
    cache_args = (
        (train_set, val_set), cfg.batch_size, collate_fn, make_generator(seed), dev, dtype,
        f"{cache_key_extra}|{cfg.precision}",
    )  # fmt: skip
    if feature_cache is not None and stop == n_groups:  # the whole backbone is frozen
        train_loader, val_loader = cached_loaders(
            feature_cache, model, *cache_args, lengths=lengths
        )
        forward = lambda batch: model.forward_head(batch["features"])  # noqa: E731
        cache_stop = n_groups
    elif feature_cache is not None and stop > 0 and supports_prefix(model, stop):
        prefix = prefix_loaders(feature_cache, model, stop, *cache_args, lengths=lengths)
        if prefix is not None:
            train_loader, val_loader, forward = prefix
            cache_stop = stop
    if feature_cache is not None:
        freezer.train_mode()  # computing the cache put the whole model in eval mode

    if cfg.loss.class_weights == "balanced" and class_counts is None:
        class_counts = _count_classes(make_loader(train_set, 256, collate_fn), num_outputs)
    loss_fn = build_loss(cfg.loss, num_outputs, class_counts)
    regularizer = Regularizer(model, cfg.regularization)
    optimizer = build_optimizer(model, cfg.optimizer)
    accum = cfg.grad_accum_steps
    n_batches = len(train_loader)
    steps_per_epoch = math.ceil(n_batches / accum)
    scheduler = lambda_lr(
        optimizer, cfg.epochs * steps_per_epoch, cfg.schedule, cfg.optimizer.lr, freezer.scale
    )
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)

    state = TrainState(metric=metric, greater_is_better=greater)
    all_callbacks = list(callbacks)
    if cfg.early_stopping.patience is not None:
        all_callbacks.append(
            EarlyStopping(cfg.early_stopping.patience, cfg.early_stopping.min_delta, greater)
        )
    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    out = Path(metrics_path) if metrics_path is not None else None
    losses: list[float] = []
    best_metrics: dict[str, float] = {}
    decision = Decision()

    def run_evaluation() -> Decision:
        nonlocal best_state, best_metrics
        model.train(False)
        raw, y = _collect(forward, val_loader, dev, dtype)
        freezer.train_mode()
        state.metrics = compute_metrics(_labels(y), _to_outputs(raw, task), task)
        state.score = state.metrics[metric]
        record = {"epoch": state.epoch, "step": state.step, **state.metrics}
        record["train_loss"] = float(np.mean(losses)) if losses else float("nan")
        record["lr"] = float(optimizer.param_groups[0]["lr"])
        losses.clear()
        state.history.append(record)
        if out is not None:
            with out.open("a", encoding="utf-8") as fh:
                fh.write(_json_line(record) + "\n")
        if is_better(state.score, state.best_score, greater):
            state.best_score, state.best_epoch, state.best_step = (
                state.score,
                state.epoch,
                state.step,
            )
            best_metrics = dict(state.metrics)
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        for cb in all_callbacks:
            d = cb.on_evaluate(state)
            if d.stop:
                return d
        return Decision()

    for epoch in range(cfg.epochs):
        state.epoch = epoch
        if freezer.start_epoch(epoch):  # plan or LR stage changed: refresh the current LRs
            for group, fn, base in zip(
                optimizer.param_groups, scheduler.lr_lambdas, scheduler.base_lrs, strict=True
            ):
                group["lr"] = base * fn(scheduler.last_epoch)
        for cb in all_callbacks:
            cb.on_epoch_start(state)
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(train_loader):
            batch = _to_device(batch, dev)
            window = min(accum, n_batches - (i // accum) * accum)
            with _autocast(dev, dtype):
                loss = loss_fn(forward(batch), batch["labels"])
            if regularizer.active:
                loss = loss + regularizer.penalty()
            if not torch.isfinite(loss):
                decision = Decision(
                    True, f"diverged: non-finite training loss at step {state.step}"
                )
                break
            losses.append(float(loss.detach()))
            scaler.scale(loss / window).backward()
            if (i + 1) % accum and i + 1 != n_batches:
                continue
            if cfg.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                params = [p for p in model.parameters() if p.grad is not None]
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            if cfg.eval_every_steps and state.step % cfg.eval_every_steps == 0:
                decision = run_evaluation()
                if decision.stop:
                    break
        if decision.stop:
            break
        last_epoch = epoch == cfg.epochs - 1
        if cfg.eval_every_steps is None or (last_epoch and losses):
            decision = run_evaluation()
            if decision.stop:
                break

    if keep_last and state.history and not decision.stop:
        best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        best_metrics = dict(state.metrics)
        state.best_epoch, state.best_score = state.epoch, state.score
    model.load_state_dict(best_state)
    return FitResult(
        best_epoch=state.best_epoch,
        best_score=float("nan") if state.best_score is None else state.best_score,
        best_metrics=best_metrics,
        history=state.history,
        state_dict=best_state,
        stopped_early=decision.stop,
        reason=decision.reason or "completed",
        used_feature_cache=cache_stop is not None,
        cache_stop=cache_stop,
    )
