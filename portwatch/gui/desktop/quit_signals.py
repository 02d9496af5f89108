"""SIGTERM and SIGINT quit the window the way File > Quit does.

A session logout or `kill PID` sends SIGTERM; Ctrl-C in the terminal that started portwatch
sends SIGINT. Without this, Python's default handling ends the process without stopping the
worker thread or saving the window's layout. Python runs its signal handlers only when the
interpreter gets control, and Qt's event loop may sleep in C for a long time, so the signal also
writes a byte to a socketpair (signal.set_wakeup_fd) that a QSocketNotifier watches: the loop
wakes at once, and nothing polls. The socketpair is a private Unix socket, not a listener.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket

from PySide6.QtCore import QObject, QSocketNotifier
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class QuitOnSignals(QObject):
    """While alive, SIGTERM/SIGINT call app.quit(); `restore()` puts the old handlers back."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in QUIT_SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("%s received: quitting", signal.Signals(signum).name)
        self._app.quit()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._reader.recv(64)

    def restore(self) -> None:
        self._notifier.setEnabled(False)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()
