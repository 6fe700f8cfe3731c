"""Several head-only trials trained together in one vectorised pass over cached features.

Head-only trials on cached features differ only in the head's settings, so K of them can share
each pass over the data: the heads are one stacked weight ``(K, classes, features)``, each row
with its own learning rate, weight decay, dropout and loss, updated by a vectorised AdamW. Every
head keeps its own record: its validation score per epoch, its early stopping, its pruning
decision (``should_stop`` is asked per head and epoch) and its best epoch.

What the heads share is what one-at-a-time runs with the same seed share anyway: the initial
weights (drawn per head from ``seed + head seed``), the order of the minibatches (from ``seed``).
Dropout masks come from each head's own generator. So a head's result does not depend on which
other heads ran beside it: training K heads together gives the same numbers as training each
alone (the test checks this in float64).

Each head may follow its own learning-rate schedule (``schedule``: a
:class:`~tunesmith.config.optimization.ScheduleConfig`, as ``train.schedule`` gives the regular
loop): at optimizer step ``s`` of ``epochs * ceil(n / batch_size)`` a head's rate is its ``lr``
times :func:`tunesmith.engine.schedules.lr_factor` for ``s`` (warmup included, ``lr_min`` as the
floor), so the rates form one vector over the heads per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

LOSSES = ("cross_entropy", "focal")


@dataclass(frozen=True)
class HeadConfig:
    """One head trial's settings. ``seed`` makes its initial weights and dropout masks."""

    lr: float
    weight_decay: float = 0.0
    dropout: float = 0.0
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    seed: int = 0
    schedule: Any = None  # a ScheduleConfig; None: a constant rate

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")


@dataclass
class HeadResult:
    """One head's record: validation accuracy per epoch (with the epoch's mean training loss and
    the learning rate of its last step), best epoch (0-based), why it stopped."""

    scores: list[float] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float = -math.inf
    reason: str = "completed"
    weight: Any = None  # the best epoch's (classes, features) weight and (classes,) bias
    bias: Any = None


StopRule = Callable[[int, int, float], bool]
"""``should_stop(head, epoch, score) -> bool``: True prunes that head now."""


def _init(configs: Sequence[HeadConfig], classes: int, dim: int, dtype: Any) -> tuple[Any, Any]:
    import torch

    weights, biases = [], []
    bound = 1.0 / math.sqrt(dim)
    for cfg in configs:
        gen = torch.Generator().manual_seed(cfg.seed)
        weights.append((torch.rand(classes, dim, generator=gen, dtype=dtype) * 2 - 1) * bound)
        biases.append((torch.rand(classes, generator=gen, dtype=dtype) * 2 - 1) * bound)
    return torch.stack(weights), torch.stack(biases)


def _losses(logits: Any, y: Any, configs: Sequence[HeadConfig]) -> Any:
    """Per-head mean loss, shape (K,): each head's own loss function on its own logits."""
    import torch

    k, n, c = logits.shape
    logp = torch.log_softmax(logits, dim=-1)
    target = torch.nn.functional.one_hot(y, c).to(logits.dtype).expand(k, n, c)
    smooth = logits.new_tensor([cfg.label_smoothing for cfg in configs]).view(k, 1, 1)
    soft = target * (1 - smooth) + smooth / c
    ce = -(soft * logp).sum(-1)  # (K, n)
    gamma = logits.new_tensor([cfg.focal_gamma for cfg in configs]).view(k, 1)
    p_true = (logp.exp() * target).sum(-1)
    focal = (1 - p_true).clamp_min(0) ** gamma * ce
    is_focal = torch.tensor([cfg.loss == "focal" for cfg in configs]).view(k, 1)
    return torch.where(is_focal, focal, ce).mean(-1)


def train_heads(
    features: Any,
    labels: Any,
    val_features: Any,
    val_labels: Any,
    configs: Sequence[HeadConfig],
    *,
    epochs: int,
    batch_size: int = 32,
    patience: int | None = None,
    seed: int = 0,
    should_stop: StopRule | None = None,
    num_classes: int | None = None,
    keep_last: bool = False,
) -> list[HeadResult]:
    """Train one linear head per config on ``features`` → ``labels``; evaluate every epoch.

    A head stops on its own when ``patience`` epochs pass without a better validation accuracy
    (``reason="early_stopped"``) or when ``should_stop`` answers True (``"pruned"``); the others
    go on. Returns one :class:`HeadResult` per config, in order. ``num_classes``: the width of
    each head (default: one more than the largest label seen). ``keep_last``: each head keeps
    its last epoch's weights as its result (``best_epoch`` = that epoch), not its best
    evaluation's: a fixed run whose validation data is part of its training data.
    """
    import torch

    from tunesmith.engine.schedules import lr_factor

    if not configs:
        return []
    k, dim = len(configs), int(features.shape[1])
    classes = num_classes or int(max(int(labels.max()), int(val_labels.max())) + 1)
    dtype = features.dtype
    w, b = _init(configs, classes, dim, dtype)
    m_w, v_w = torch.zeros_like(w), torch.zeros_like(w)
    m_b, v_b = torch.zeros_like(b), torch.zeros_like(b)
    n = int(labels.shape[0])
    total_steps = epochs * math.ceil(n / batch_size)

    def rates(step: int) -> Any:  # every head's learning rate for optimizer step ``step``
        return torch.tensor(
            [
                c.lr
                if c.schedule is None
                else c.lr * lr_factor(step, total_steps, c.schedule, c.lr)
                for c in configs
            ],
            dtype=dtype,
        )

    wd = torch.tensor([c.weight_decay for c in configs], dtype=dtype)
    keep = torch.tensor([1 - c.dropout for c in configs], dtype=dtype).view(k, 1, 1)
    gens = [torch.Generator().manual_seed(c.seed + 1) for c in configs]
    order_gen = torch.Generator().manual_seed(seed)
    active = torch.ones(k, dtype=torch.bool)
    results = [HeadResult() for _ in configs]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=order_gen)
        loss_sum, batches = torch.zeros(k, dtype=torch.float64), 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x, y = features[idx], labels[idx]
            masks = torch.stack(
                [torch.rand(x.shape, generator=g, dtype=dtype) for g in gens]
            )  # (K, B, D); every head draws, so its stream does not depend on the others
            xs = torch.where(masks < keep, x.unsqueeze(0) / keep, torch.zeros((), dtype=dtype))
            w.requires_grad_(True)
            b.requires_grad_(True)
            logits = torch.einsum("kbd,kcd->kbc", xs, w) + b.unsqueeze(1)
            per_head = _losses(logits, y, configs)
            loss = per_head.sum()  # heads are independent: grads separate
            gw, gb = torch.autograd.grad(loss, (w, b))
            loss_sum += per_head.detach().to(torch.float64)
            batches += 1
            w, b = w.detach(), b.detach()
            lr = rates(step)
            step += 1
            on = active.to(dtype)
            w, m_w, v_w = _adamw(w, gw, m_w, v_w, lr, wd, on, step, beta1, beta2, eps)
            b, m_b, v_b = _adamw(
                b, gb, m_b, v_b, lr, torch.zeros_like(wd), on, step, beta1, beta2, eps
            )
        with torch.no_grad():
            val_logits = torch.einsum("nd,kcd->knc", val_features, w) + b.unsqueeze(1)
            acc = (val_logits.argmax(-1) == val_labels).to(torch.float64).mean(-1)
        for i, res in enumerate(results):
            if not bool(active[i]):
                continue
            score = float(acc[i])
            res.scores.append(score)
            res.train_losses.append(float(loss_sum[i]) / max(batches, 1))
            res.lrs.append(float(lr[i]))
            if score > res.best_score:
                res.best_score, res.best_epoch = score, epoch
                res.weight, res.bias = w[i].clone(), b[i].clone()
            if should_stop is not None and should_stop(i, epoch, score):
                res.reason = "pruned"
                active[i] = False
            elif patience is not None and epoch - (res.best_epoch or 0) >= patience:
                res.reason = "early_stopped"
                active[i] = False
        if not bool(active.any()):
            break
    if keep_last:
        for i, res in enumerate(results):
            if res.scores and res.reason == "completed":
                res.best_epoch, res.best_score = len(res.scores) - 1, res.scores[-1]
                res.weight, res.bias = w[i].clone(), b[i].clone()
    return results


def _adamw(
    p: Any,
    g: Any,
    m: Any,
    v: Any,
    lr: Any,
    wd: Any,
    on: Any,
    step: int,
    b1: float,
    b2: float,
    eps: float,
) -> tuple[Any, Any, Any]:
    """One AdamW step for stacked parameters; ``lr``/``wd``/``on`` hold one value per head.

    A stopped head (``on`` = 0) keeps its weights and moments unchanged.
    """
    shape = (-1,) + (1,) * (p.dim() - 1)
    lr, wd, on = lr.view(shape), wd.view(shape), on.view(shape)
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g * g
    m_hat = m_new / (1 - b1**step)
    v_hat = v_new / (1 - b2**step)
    p_new = p * (1 - lr * wd) - lr * m_hat / (v_hat.sqrt() + eps)
    return (
        on * p_new + (1 - on) * p,
        on * m_new + (1 - on) * m,
        on * v_new + (1 - on) * v,
    )
