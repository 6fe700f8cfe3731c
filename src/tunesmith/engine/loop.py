"""The training loop: ``fit``, ``evaluate`` and ``predict``.

``fit`` reads top to bottom: device, freezing, loaders (plain or cached, chosen by
:func:`~tunesmith.engine.loaders.build_loaders`), loss, optimizer and schedule, then epochs of
(accumulated) optimizer steps with an evaluation every epoch or every ``eval_every_steps`` steps.
The rest is callbacks' work (:mod:`tunesmith.engine.callbacks`): each training loss goes to them
(a non-finite one stops the run) and so does each evaluation (the best weights are kept,
``metrics.jsonl`` written, early stopping and pruning may stop the run); the best evaluation's
weights are restored at the end. ``fit`` never seeds the global RNGs: its caller seeds once
(:func:`tunesmith.engine.job.run_job`); ``seed`` only shuffles the batches.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunesmith.config.train import TrainConfig
from tunesmith.engine.callbacks import (
    CONTINUE,
    BestWeights,
    Callback,
    CallbackList,
    Decision,
    DivergenceCheck,
    EarlyStopping,
    TrainState,
)
from tunesmith.engine.device import autocast_dtype, resolve_device
from tunesmith.engine.feature_cache import FeatureCache
from tunesmith.engine.freezing import Freezer, frozen_prefix
from tunesmith.engine.loaders import Loaders, build_loaders, forward_full
from tunesmith.engine.losses import build_loss
from tunesmith.engine.metrics import compute_metrics, get_metric
from tunesmith.engine.optim import build_optimizer
from tunesmith.engine.regularizers import Regularizer
from tunesmith.engine.sampling import LoaderRequest, example_lengths, make_loader
from tunesmith.engine.schedules import lambda_lr, refresh_lr
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
    return _collect(forward_full(model), loader, dev, autocast_dtype(precision, dev))


def _count_classes(loader: Iterable[Any], num_classes: int) -> list[int]:
    counts = np.zeros(num_classes, dtype=np.int64)
    for batch in loader:
        labels = batch["labels"]
        if labels.dim() == 2:  # a distillation batch: the class index, then soft targets
            labels = labels[:, 0]
        counts += np.bincount(labels.reshape(-1).long().numpy(), minlength=num_classes)
    return counts.tolist()


def _labels(y: np.ndarray | None) -> np.ndarray:
    if y is None:
        raise ConfigError("the validation batches carry no 'labels'")
    return y


def _metric(cfg: TrainConfig, task: str, num_outputs: int) -> tuple[str, bool]:
    """The selection metric and whether it grows with quality, once ``cfg`` fits the task."""
    cfg.check_task(task)
    if task == "classification" and num_outputs < 2:
        raise ConfigError(f"a classification head needs num_outputs >= 2, got {num_outputs}")
    metric = cfg.resolved_metric(task)
    return metric, get_metric(metric).greater_is_better


def _request(
    cfg: TrainConfig,
    datasets: tuple[Any, Any],
    collate_fn: Any,
    seed: int,
    device: Any,
    dtype: Any,
    cache_key_extra: str,
) -> LoaderRequest:
    lengths = example_lengths(datasets[0], collate_fn) if cfg.group_by_length else None
    extra = f"{cache_key_extra}|{cfg.precision}"
    return LoaderRequest(*datasets, cfg.batch_size, collate_fn, seed, device, dtype, extra, lengths)


def _loss(
    cfg: TrainConfig,
    train_set: Any,
    collate_fn: Any,
    num_outputs: int,
    class_counts: Sequence[int] | None,
    wrapper: Callable[[Any], Any] | None = None,
) -> Any:
    if cfg.loss.class_weights == "balanced" and class_counts is None:
        class_counts = _count_classes(make_loader(train_set, 256, collate_fn), num_outputs)
    loss = build_loss(cfg.loss, num_outputs, class_counts)
    return loss if wrapper is None else wrapper(loss)


def _early_stopping(cfg: TrainConfig, greater: bool) -> list[Callback]:
    es = cfg.early_stopping
    return [] if es.patience is None else [EarlyStopping(es.patience, es.min_delta, greater)]


@dataclass(frozen=True)
class _Evaluation:
    """Evaluates the model on the validation loader into a :class:`TrainState`."""

    model: Any
    loaders: Loaders
    freezer: Freezer
    task: str
    device: Any
    dtype: Any
    optimizer: Any

    def __call__(self, state: TrainState) -> TrainState:
        """Set ``state.metrics`` and ``score``; append the record (with the mean training loss
        since the last evaluation and the LR) to ``state.history``."""
        self.model.train(False)
        raw, y = _collect(self.loaders.forward, self.loaders.val, self.device, self.dtype)
        self.freezer.train_mode()
        state.metrics = compute_metrics(_labels(y), _to_outputs(raw, self.task), self.task)
        state.score = state.metrics[state.metric]
        record = {"epoch": state.epoch, "step": state.step, **state.metrics}
        record["train_loss"] = float(np.mean(state.losses)) if state.losses else float("nan")
        record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        state.losses.clear()
        state.history.append(record)
        return state


def _due(cfg: TrainConfig, state: TrainState, epoch_end: bool = False) -> bool:
    """Whether to evaluate now: every ``eval_every_steps`` optimizer steps (and at the end of
    the last epoch when steps ran since the last evaluation), else at every epoch's end."""
    every = cfg.eval_every_steps
    if not epoch_end:
        return every is not None and state.step % every == 0
    return every is None or (state.epoch == cfg.epochs - 1 and bool(state.losses))


def _optimizer_step(
    model: Any, optimizer: Any, scheduler: Any, scaler: Any, max_grad_norm: float | None
) -> None:
    import torch

    if max_grad_norm is not None:
        scaler.unscale_(optimizer)
        params = [p for p in model.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


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
    device: Any = None,
    class_counts: Sequence[int] | None = None,
    feature_cache: FeatureCache | None = None,
    cache_key_extra: str = "",
    keep_last: bool = False,
    loss_wrapper: Callable[[Any], Any] | None = None,
) -> FitResult:
    """Fine-tune ``model`` on ``train_set``, selecting on ``val_set`` by ``cfg``'s metric.

    ``seed`` shuffles the batches (seed the global RNGs before). ``keep_last``: keep the last
    epoch's weights, not the best evaluation's (a fixed run that trains on its validation set).
    ``loss_wrapper`` turns the configured loss into the one trained on (distillation)."""
    import torch

    metric, greater = _metric(cfg, task, num_outputs)
    dev = resolve_device(device if device is not None else cfg.device)
    dtype = autocast_dtype(cfg.precision, dev)
    model.to(dev)
    freezer = Freezer(model, cfg.freezing, lora=cfg.lora)
    freezer.start_epoch(0)
    request = _request(cfg, (train_set, val_set), collate_fn, seed, dev, dtype, cache_key_extra)
    stop = frozen_prefix(cfg.freezing, len(freezer.groups), cfg.epochs, cfg.lora)
    loaders = build_loaders(model, request, feature_cache, stop)
    freezer.train_mode()  # computing a cache put the whole model in eval mode
    loss_fn = _loss(cfg, train_set, collate_fn, num_outputs, class_counts, loss_wrapper)
    regularizer = Regularizer(model, cfg.regularization)
    optimizer = build_optimizer(model, cfg.optimizer)
    accum, n_batches = cfg.grad_accum_steps, len(loaders.train)
    # laid out over the horizon: a run of fewer epochs is the start of the longer run
    total_steps = cfg.horizon_epochs * math.ceil(n_batches / accum)
    scheduler = lambda_lr(optimizer, total_steps, cfg.schedule, cfg.optimizer.lr, freezer.scale)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    state, best = TrainState(metric, greater), BestWeights(model)
    hooks = CallbackList([best, DivergenceCheck(), *callbacks, *_early_stopping(cfg, greater)])
    evaluation = _Evaluation(model, loaders, freezer, task, dev, dtype, optimizer)
    decision = CONTINUE
    for epoch in range(cfg.epochs):
        state.epoch = epoch
        if freezer.start_epoch(epoch):  # a new plan or LR stage: the current LRs change
            refresh_lr(scheduler)
        hooks.on_epoch_start(state)
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(loaders.train):
            batch = _to_device(batch, dev)
            with _autocast(dev, dtype):
                loss = loss_fn(loaders.forward(batch), batch["labels"])
            if regularizer.active:
                loss = loss + regularizer.penalty()
            state.loss = float(loss.detach())
            if (decision := hooks.on_train_loss(state)).stop:
                break
            state.losses.append(state.loss)
            window = min(accum, n_batches - (i // accum) * accum)
            scaler.scale(loss / window).backward()
            if (i + 1) % accum and i + 1 != n_batches:
                continue
            _optimizer_step(model, optimizer, scheduler, scaler, cfg.max_grad_norm)
            state.step += 1
            if _due(cfg, state) and (decision := hooks.on_evaluate(evaluation(state))).stop:
                break
        if decision.stop:
            break
        if _due(cfg, state, True) and (decision := hooks.on_evaluate(evaluation(state))).stop:
            break

    if keep_last and state.history and not decision.stop:
        best.take(state)
    model.load_state_dict(best.state_dict)
    return _result(best, state, decision, loaders.cache_stop)


def _result(
    best: BestWeights, state: TrainState, decision: Decision, cache_stop: int | None
) -> FitResult:
    return FitResult(
        best_epoch=best.epoch,
        best_score=float("nan") if best.score is None else best.score,
        best_metrics=best.metrics,
        history=state.history,
        state_dict=best.state_dict,
        stopped_early=decision.stop,
        reason=decision.reason or "completed",
        used_feature_cache=cache_stop is not None,
        cache_stop=cache_stop,
    )
