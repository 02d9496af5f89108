"""Run short blocking calls (hashing a file, reading a process, terminating one) off the GUI
thread in a QThreadPool, and deliver each result back to the GUI thread as a signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

log = logging.getLogger(__name__)


class JobRunner(QObject):
    """`submit(token, fn, *args)` runs fn(*args) in a pool thread; `finished(token, result)`
    arrives in the thread this runner lives in (the result is the exception when fn raised).

    Connect `finished` to a slot of a QObject in the GUI thread (not a lambda), so Qt queues
    it. Call `shutdown()` before the receiver is destroyed."""

    finished = Signal(object, object)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._closed = False

    def submit(self, token: object, fn: Callable[..., Any], *args: Any) -> None:
        if self._closed:
            return

        def run() -> None:
            try:
                result: Any = fn(*args)
            except Exception as exc:  # delivered as the result; the receiver words it
                log.exception("background job %r failed", token)
                result = exc
            if not self._closed:
                self.finished.emit(token, result)

        self._pool.start(run)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Drop queued jobs and wait for running ones; no result is delivered afterwards."""
        self._closed = True
        self._pool.clear()
        return self._pool.waitForDone(int(timeout * 1000))

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait for every job to finish (tests)."""
        return self._pool.waitForDone(int(timeout * 1000))
