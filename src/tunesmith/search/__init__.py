"""Search layer: search space, sampler and pruner registries over Optuna.

Modules (imported on use, so importing this package stays light):

* :mod:`tunesmith.search.space` — :class:`~tunesmith.search.space.SearchSpace`
* :mod:`tunesmith.search.samplers` — ``SAMPLERS``, ``create_sampler``
* :mod:`tunesmith.search.pruners` — ``PRUNERS``, ``create_pruner``
"""
