"""Callbacks for training frameworks: tune an existing training script by adding a few lines.

``tunesmith.integrations.transformers.TunesmithCallback`` (Hugging Face ``Trainer``) and
``tunesmith.integrations.lightning.TunesmithCallback`` (``lightning.pytorch.Trainer``) share
:class:`~tunesmith.integrations.core.TrialReport`; only the framework glue differs.
"""
