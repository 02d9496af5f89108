"""How `portwatch watch` is stopped: SIGINT and SIGTERM ask its loop to end after the current
poll (the first one at once: a second signal raises KeyboardInterrupt, even mid-poll), and the
previous handlers come back afterwards.

The handler takes no lock: it sets a flag and sends a byte into a socket pair that `wait()`
selects on. (A threading.Event set from a signal handler deadlocks when the signal lands while
the main thread is inside Event.wait() holding the Event's own lock: `watch` then ignored
SIGTERM for good.)
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from typing import Any


class Stop:
    """A stop request: set() from a signal handler or any thread, wait() in the main loop."""

    def __init__(self) -> None:
        self._flag = False
        self._wake, self._woken = socket.socketpair()
        for end in (self._wake, self._woken):
            end.setblocking(False)

    def set(self) -> None:
        self._flag = True
        # Full: a wake-up already waits; closed: the loop has ended.
        with contextlib.suppress(OSError):
            self._wake.send(b"\0")

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        """Until set() or `timeout` seconds (None: no limit); whether it is set."""
        if not self._flag and (timeout is None or timeout > 0):
            select.select([self._woken], [], [], timeout)
        return self._flag

    def close(self) -> None:
        self._wake.close()
        self._woken.close()


class StopOnSignal:
    """`with StopOnSignal() as stop:` SIGINT and SIGTERM set `stop` instead of raising."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.stop = Stop()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.stop.is_set():  # asked twice: stop now, even in the middle of a poll
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self) -> Stop:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self.stop

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self.stop.close()
