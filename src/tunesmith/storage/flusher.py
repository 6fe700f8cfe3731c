"""The clock of :class:`~tunesmith.storage.writebehind.WriteBehind`: a background thread that
writes the waiting changes once the oldest is ``period`` seconds old, while the coordinator is
busy elsewhere (training reports, waiting on workers)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("tunesmith.storage.writebehind")  # its messages are the storage's


class Flusher:
    """Calls ``flush()`` when ``dirty_since()`` (a ``time.monotonic`` reading, None when nothing
    waits) is ``period`` seconds old; checks four times per period. Started on the first change,
    stopped (and joined) by :meth:`stop`; once stopped it never starts again."""

    def __init__(
        self, flush: Callable[[], None], dirty_since: Callable[[], float | None], period: float
    ) -> None:
        self._flush = flush
        self._dirty_since = dirty_since
        self._period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._watch, name="tunesmith-flush", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._period / 4):
            since = self._dirty_since()
            if since is None or time.monotonic() - since < self._period:
                continue
            try:
                self._flush()
            except Exception as exc:  # the coordinator's own flush raises it again
                log.warning("could not write trials to the study yet: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
