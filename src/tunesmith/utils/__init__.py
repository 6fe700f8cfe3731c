"""Small shared helpers below config and above errors: atomic writes and checkpoints.

Both ``engine`` and ``storage`` may import this package (they may not import each other).
"""
