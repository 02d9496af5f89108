"""One portwatch window per user: a second launch raises the first instance's window and exits.

The first instance holds a lock file and listens on a QLocalServer. On Unix that is a Unix
domain socket (a file, never a network port) in a directory only this user can enter:
$XDG_RUNTIME_DIR, else a private /tmp/portwatch-<uid> that we create with mode 0700 and check
is ours. The socket's name includes a digest of the config directory, so test runs with their
own PORTWATCH_CONFIG_DIR never meet the user's real instance. A second launch finds the lock
held, connects, sends "raise" and ends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from portwatch.core.desktop import instance

log = logging.getLogger(__name__)

RAISE = b"raise\n"
ANSWER = b"ok\n"
MAX_LINE = 64
CONNECT_TIMEOUT_MS = 1000
CONNECT_ATTEMPTS = 5  # the first instance may hold the lock a moment before it listens


def socket_path(config_dir: Path | None = None) -> str | None:
    """Where this user's (and this config directory's) instance listens."""
    folder = instance.private_directory(create=True)
    if folder is None:
        return None
    return str(folder / f"{instance.instance_name(config_dir)}.sock")


class SingleInstance(QObject):
    """`claim()` once at start-up: True means we are the first instance and listen for later
    launches (`activation_requested` then asks to raise the window); False means another
    instance was asked to raise its window and this one should exit."""

    activation_requested = Signal()

    def __init__(self, path: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path if path is not None else socket_path()
        self._lock: QLockFile | None = None
        self._server: QLocalServer | None = None
        self._clients: set[QLocalSocket] = set()
        # After a claim() that returned False: one sentence for the terminal of that launch.
        self.outcome = ""

    def claim(self) -> bool:
        if self.path is None:
            return True  # no private place for a socket: run without the check
        lock = QLockFile(self.path + ".lock")
        lock.setStaleLockTime(0)  # a lock is stale only when its process is gone
        if not lock.tryLock(0):
            if lock.error() == QLockFile.LockError.LockFailedError:
                self._ask_to_raise(lock)
                return False
            log.warning("single instance: cannot lock %s.lock; not checking", self.path)
            return True
        self._lock = lock
        QLocalServer.removeServer(self.path)  # a socket file left by a crashed instance
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.path):
            log.warning("single instance: cannot listen on %s (%s)", self.path,
                        server.errorString())
            return True
        server.newConnection.connect(self._connected)
        self._server = server
        log.debug("single instance: listening on %s", self.path)
        return True

    def _ask_to_raise(self, lock: QLockFile) -> bool:
        """Tell the running instance to raise its window. True when it answered."""
        info = lock.getLockInfo()  # PySide6: (pid, hostname, appname)
        pid = info[0] if info else "?"
        for _attempt in range(CONNECT_ATTEMPTS):
            client = QLocalSocket()
            client.connectToServer(self.path)
            if client.waitForConnected(CONNECT_TIMEOUT_MS):
                client.write(RAISE)
                client.waitForBytesWritten(CONNECT_TIMEOUT_MS)
                client.waitForReadyRead(CONNECT_TIMEOUT_MS)
                client.disconnectFromServer()
                self.outcome = (f"portwatch is already running (pid {pid}); its window was"
                                " brought forward")
                log.info("%s", self.outcome)
                return True
            time.sleep(0.2)  # start-up of a second launch: no window or event loop to block
        self.outcome = (f"portwatch is already running (pid {pid}) but does not answer on"
                        f" {self.path}; quit it (or end that process) and start portwatch again")
        log.info("%s", self.outcome)
        return False

    def _connected(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            client = self._server.nextPendingConnection()
            self._clients.add(client)
            client.readyRead.connect(self._ready_read)
            client.disconnected.connect(self._client_gone)
            if client.bytesAvailable():
                self._read(client)

    def _ready_read(self) -> None:
        client = self.sender()
        if isinstance(client, QLocalSocket):
            self._read(client)

    def _client_gone(self) -> None:
        client = self.sender()
        if isinstance(client, QLocalSocket) and client in self._clients:
            self._clients.discard(client)
            client.deleteLater()

    def _read(self, client: QLocalSocket) -> None:
        while client.canReadLine():
            line = bytes(client.readLine(MAX_LINE).data())
            if line == RAISE:
                client.write(ANSWER)
                log.debug("single instance: another launch asked to raise the window")
                self.activation_requested.emit()
        if client.bytesAvailable() > MAX_LINE:  # not one of us: stop listening to it
            client.abort()

    def close(self) -> None:
        """Stop listening and let the next launch be the first instance."""
        for client in list(self._clients):
            client.readyRead.disconnect(self._ready_read)
            client.disconnected.disconnect(self._client_gone)
            client.abort()
            client.deleteLater()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
