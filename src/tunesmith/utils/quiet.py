"""Keep third-party progress bars (transformers' "Loading weights", Hugging Face Hub downloads)
out of logs that are not a terminal: in a file or a CI log each redraw is one more line."""

from __future__ import annotations

import os
import sys
from typing import TextIO

HUB_VARIABLE = "HF_HUB_DISABLE_PROGRESS_BARS"


def quiet_progress_bars(stream: TextIO | None = None) -> bool:
    """Turn the bars off when ``stream`` (stderr) is not a terminal; return True if turned off.

    Sets ``HF_HUB_DISABLE_PROGRESS_BARS`` (inherited by worker processes) unless the user set it,
    which both libraries read when imported, and switches their bars off when already imported.
    """
    stream = stream if stream is not None else sys.stderr
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        return False
    os.environ.setdefault(HUB_VARIABLE, "1")  # read by huggingface_hub and transformers on import
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    return True
