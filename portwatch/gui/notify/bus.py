"""One jeepney connection to the D-Bus session bus, read on the Qt event loop, and the
freedesktop Notifications method calls sent over it.

The connection is read through a QSocketNotifier on the GUI thread, so a call never waits for
the server: replies and signals arrive as events. Only `BusLink.call_blocking` waits (at
start-up, at most PICK_TIMEOUT). jeepney is imported when first used.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
PICK_TIMEOUT = 1.0  # seconds pick() waits for the server's capabilities
REPLY_TIMEOUT_MS = 5000  # a Notify call without an answer by then goes to the fallback


class BusLink(QObject):
    """One jeepney connection to the session bus, read on the Qt event loop.

    `call(message, on_reply)` sends and returns at once; the reply (or error, or None on
    timeout) is handed to `on_reply` later. Signals are handed to `on_signal`. `call_blocking`
    is only for start-up (pick), before anything else is in flight."""

    lost = Signal()

    def __init__(self, connection: Any, on_signal: Callable[[Any], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._conn = connection
        self._on_signal = on_signal
        self._waiting: dict[int, tuple[Callable[[Any], None], QTimer]] = {}
        connection.sock.settimeout(PICK_TIMEOUT)  # a stuck bus must not hold a send for long
        self._notifier = QSocketNotifier(connection.sock.fileno(), QSocketNotifier.Type.Read,
                                         self)
        self._notifier.activated.connect(self._readable)

    @classmethod
    def open(cls, on_signal: Callable[[Any], None]) -> BusLink | None:
        """A link to the session bus, or None (logged) when there is none."""
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            log.info("notifications: jeepney is not installed")
            return None
        try:
            connection = open_dbus_connection(bus="SESSION", auth_timeout=PICK_TIMEOUT)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            log.info("notifications: no D-Bus session bus (%s)", exc)
            return None
        return cls(connection, on_signal)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def call_blocking(self, message: Any, timeout: float = PICK_TIMEOUT) -> Any:
        """Send and wait for the reply (raises TimeoutError, OSError); start-up only."""
        self._notifier.setEnabled(False)
        try:
            return self._conn.send_and_get_reply(message, timeout=timeout)
        finally:
            self._notifier.setEnabled(True)

    def call(self, message: Any, on_reply: Callable[[Any], None] | None = None,
             timeout_ms: int = REPLY_TIMEOUT_MS) -> bool:
        """Send `message`; `on_reply(reply_or_None)` runs when it is answered or times out.
        False (and nothing else happens) when the connection is gone."""
        if self._conn is None:
            return False
        serial = next(self._conn.outgoing_serial)
        try:
            self._conn.send(message, serial=serial)
        except OSError as exc:
            self._drop(f"send failed: {exc}")
            return False
        if on_reply is not None:
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.timeout.connect(lambda: self._answer(serial, None))
            timer.start(timeout_ms)
            self._waiting[serial] = (on_reply, timer)
        return True

    def _answer(self, serial: int, reply: Any) -> None:
        entry = self._waiting.pop(serial, None)
        if entry is None:
            return
        callback, timer = entry
        timer.stop()
        timer.deleteLater()
        try:
            callback(reply)
        except Exception:  # a bug in one callback must not stop the link
            log.exception("notifications: reply handler failed")

    def _readable(self) -> None:
        from jeepney import HeaderFields, MessageType

        try:
            data = self._conn.sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return
        except OSError as exc:
            self._drop(f"read failed: {exc}")
            return
        if not data:
            self._drop("the bus closed the connection")
            return
        parser = self._conn.parser
        parser.add_data(data)
        while (message := parser.get_next_message()) is not None:
            kind = message.header.message_type
            if kind in (MessageType.method_return, MessageType.error):
                self._answer(message.header.fields.get(HeaderFields.reply_serial, -1), message)
            elif kind is MessageType.signal:
                try:
                    self._on_signal(message)
                except Exception:
                    log.exception("notifications: signal handler failed")

    def _drop(self, why: str) -> None:
        log.warning("notifications: lost the D-Bus connection (%s)", why)
        self._notifier.setEnabled(False)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        for serial in list(self._waiting):
            self._answer(serial, None)
        self.lost.emit()

    def close(self) -> None:
        if self._conn is not None:
            self._notifier.setEnabled(False)
            self._conn.close()
            self._conn = None
        for _callback, timer in self._waiting.values():
            timer.stop()
        self._waiting.clear()


def method_call(name: str, signature: str | None = None, body: tuple = ()) -> Any:
    """A method call to the notification server's object."""
    from jeepney import DBusAddress, new_method_call

    address = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
    return new_method_call(address, name, signature, body)


def is_error(reply: Any) -> bool:
    """Whether a call failed: an error reply, or none (the call timed out or the link died)."""
    from jeepney import MessageType

    return reply is None or reply.header.message_type is MessageType.error


def error_text(reply: Any) -> str:
    """Why a call failed, in a few words for the log."""
    if reply is None:
        return "no answer"
    from jeepney import HeaderFields

    name = reply.header.fields.get(HeaderFields.error_name, "error")
    detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
    return f"{name}: {detail}" if detail else str(name)
