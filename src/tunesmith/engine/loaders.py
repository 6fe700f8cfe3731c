"""The one place that chooses a training run's loaders: plain, feature cache or prefix cache.

With a :class:`FeatureCache` and a backbone frozen for the whole run (``stop`` = every group), the
backbone's features are computed once per dataset and the head trains on them (see
:mod:`tunesmith.engine.feature_cache`); when only groups ``[0, stop)`` stay frozen and the model can
run them separately, their output is cached and only the suffix and head run (see
:mod:`tunesmith.engine.prefix_cache`); otherwise the loaders read the data as it is. Pass a cache
only when the data has no random augmentation. Every kind shuffles with the request's seed
alike, so the choice never changes which batches a run sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunesmith.engine.feature_cache import FeatureCache, cached_loaders
from tunesmith.engine.prefix_cache import prefix_loaders, supports_prefix
from tunesmith.engine.sampling import LoaderRequest

Forward = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Loaders:
    """What a run trains and evaluates with: ``forward(batch)`` gives the model's outputs for a
    batch of these loaders; ``cache_stop`` how much of the backbone the cache serves (groups
    ``[0, cache_stop)``; None: nothing cached)."""

    train: Any
    val: Any
    forward: Forward
    cache_stop: int | None = None


def forward_full(model: Any) -> Forward:
    """The whole model's forward over a raw batch."""
    return lambda batch: model.forward_head(model.forward_features(batch))


def build_loaders(
    model: Any, request: LoaderRequest, cache: FeatureCache | None, stop: int
) -> Loaders:
    """The loaders for ``request``; ``stop``: groups ``[0, stop)`` stay frozen for the whole run.

    Computing a cache entry leaves the model in eval mode: the caller restores its own layout.
    """
    n_groups = len(model.layer_groups())
    if cache is not None and stop == n_groups:  # the whole backbone is frozen
        train, val = cached_loaders(cache, model, request)
        return Loaders(train, val, lambda batch: model.forward_head(batch["features"]), n_groups)
    if cache is not None and stop > 0 and supports_prefix(model, stop):
        prefix = prefix_loaders(cache, model, stop, request)
        if prefix is not None:
            return Loaders(*prefix, cache_stop=stop)
    train = request.loader("train", request.train, request.collate_fn)
    return Loaders(
        train, request.loader("val", request.val, request.collate_fn), forward_full(model)
    )
