"""Data for the fine-tuning engine: readers, validation, splits, datasets and collate functions.

Entry point: :func:`tunesmith.engine.data.build.build_data`. Nothing heavy is imported here.
"""
