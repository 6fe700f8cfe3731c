"""Small shared helpers below config and above errors: atomic writes, checkpoints and the
read-only :class:`~tunesmith.utils.registry.Registry` every registry is built on.

Both ``engine`` and ``storage`` may import this package (they may not import each other).
"""
