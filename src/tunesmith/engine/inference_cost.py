"""What a trained model costs to run: inference latency and parameter counts.

A multi-objective fine-tuning study (``study.metric: [accuracy, latency_ms]``) trades quality
against these. :func:`measure_cost` times the whole model (raw inputs to outputs, as it would be
deployed; never the feature cache) over the validation set after training:

* the batches are collated and moved to the device once, before any timing, so reading and
  tokenising the data is not counted;
* one warm-up batch runs first (lazy initialisation, allocator, kernel selection);
* then ``passes`` timed passes over every validation batch; ``latency_ms`` is the median pass
  time divided by the number of examples (milliseconds per example at ``latency_batch_size``);
* torch runs with the threads the worker was given (``runners.worker.limit_threads``), on the
  job's device, in eval mode, without gradients, in fp32 (as the evaluation runs).

Parameter counts are taken from the model as trained: ``params`` counts every parameter,
``params_trainable`` those that trained at the end (a LoRA model counts its adapters in both).
Nothing here draws random numbers, so measuring does not change later results.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

#: Timed passes over the validation set; the median is kept.
DEFAULT_PASSES = 3


def count_parameters(model: Any) -> dict[str, int]:
    """``params`` (all) and ``params_trainable`` (``requires_grad``) of a torch module."""
    total = trainable = 0
    for p in model.parameters():
        n = int(p.numel())
        total += n
        trainable += n if p.requires_grad else 0
    return {"params": total, "params_trainable": trainable}


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    model: Any,
    dataset: Any,
    *,
    collate_fn: Any,
    batch_size: int,
    device: Any = None,
    passes: int = DEFAULT_PASSES,
    clock: Any = time.perf_counter,
) -> dict[str, float]:
    """Milliseconds per example of ``model`` over ``dataset`` (see the module's notes).

    Returns ``latency_ms``, ``latency_batch_size`` and ``latency_examples``.
    """
    import torch

    from tunesmith.engine.device import resolve_device
    from tunesmith.engine.loaders import forward_full
    from tunesmith.engine.loop import _to_device
    from tunesmith.engine.sampling import make_loader

    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    dev = resolve_device(device)
    was_training = bool(model.training)
    model.to(dev).train(False)
    batches = [_to_device(b, dev) for b in make_loader(dataset, batch_size, collate_fn)]
    examples = len(dataset)
    if not batches or examples == 0:
        raise ValueError("latency needs a validation set with at least one example")
    forward = forward_full(model)
    times = []
    try:
        with torch.no_grad():
            forward(batches[0])  # warm-up
            _sync(dev)
            for _ in range(passes):
                start = clock()
                for batch in batches:
                    forward(batch)
                _sync(dev)
                times.append(clock() - start)
    finally:
        model.train(was_training)
    return {
        "latency_ms": 1000.0 * statistics.median(times) / examples,
        "latency_batch_size": float(batch_size),
        "latency_examples": float(examples),
    }


def measure_cost(
    model: Any,
    dataset: Any,
    *,
    collate_fn: Any,
    batch_size: int,
    device: Any = None,
    passes: int = DEFAULT_PASSES,
) -> dict[str, float]:
    """Latency (:func:`measure_latency`) and parameter counts (:func:`count_parameters`)."""
    out: dict[str, float] = {k: float(v) for k, v in count_parameters(model).items()}
    out.update(
        measure_latency(
            model,
            dataset,
            collate_fn=collate_fn,
            batch_size=batch_size,
            device=device,
            passes=passes,
        )
    )
    return out
