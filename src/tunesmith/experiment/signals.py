"""SIGINT and SIGTERM as a graceful stop of the coordinator.

Inside :class:`GracefulStop` both signals end in :class:`~tunesmith.errors.Interrupted` in the
main thread, so the coordinator can end its running trials (FAIL, "interrupted", parameters queued
again once) before the process exits with 130 or 143. The exception is raised at once only where
that is safe: while the coordinator waits for its runner (:meth:`GracefulStop.interruptible`: in
``select`` on the workers' pipes, or inside an in-process objective). Anywhere else (a storage
write half done, a trial created but not yet tracked) the signal is held and raised at the
coordinator's next :meth:`GracefulStop.check`, or when the critical section around an answer
inside the wait ends, so no trial is ever left between two states and no storage session is
broken mid-write. Once one signal has
been acted on, further ones are ignored until the clean-up is done. Outside the main thread
(signals cannot be handled there) the guard does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from tunesmith.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """Context manager installing the handlers; :meth:`critical` defers them."""

    def __init__(self) -> None:
        self._depth = 0
        self._open = 0
        self._pending: int | None = None
        self.fired: int | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        if self.fired is not None:
            return  # already stopping: let the clean-up finish
        if self._depth or not self._open:
            self._pending = signum
            return
        self.fired = signum
        raise Interrupted(signum)

    def _raise_pending(self) -> None:
        if self._pending is not None and self.fired is None:
            self.fired, self._pending = self._pending, None
            raise Interrupted(self.fired)

    def check(self) -> None:
        """Raise a held signal now (the caller is at a safe point)."""
        if self._depth == 0:
            self._raise_pending()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A section a signal may interrupt at once (waiting, or a running in-process trial)."""
        self.check()
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1

    @property
    def signalled(self) -> bool:
        """A signal arrived (acted on or held)."""
        return self.fired is not None or self._pending is not None

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Hold signals for the body; inside an interruptible section one that arrived is
        raised when the body ends, elsewhere at the next :meth:`check`."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._open:
                self._raise_pending()
