"""Desktop notifications for alerts, behind one small interface with a do-nothing fallback.

`Notifier` is the interface: `notify(alert)` returns an id, `supports_actions` says whether a
notification can carry a "Show" button, and `activated` carries the ListenerKey of the alert
whose notification the user clicked. `pick(tray)` chooses a backend at start-up:

- Linux (and other freedesktop desktops): `DBusNotifier`, the freedesktop Notifications D-Bus
  call sent with jeepney (QDBusInterface sent wrong argument types; dunst answered InvalidArgs).
  The connection is read on the GUI thread's event loop through a QSocketNotifier, so a call
  never waits for the server: replies and the ActionInvoked/NotificationClosed signals arrive as
  events. Only `pick()` waits, at most ~1 s, for the server's capabilities.
- When no notification server answers, or on macOS and Windows: `TrayNotifier`, the tray icon's
  own messages (the native notifications there; Qt's balloon with an XEmbed tray on X11). The
  macOS/Windows path is only exercised by unit tests here.
- Without a tray either: `NullNotifier` (the in-window banner still shows every alert).

The alert body is plain text; it is escaped for the server's markup (the spec allows <b>, <i>,
<a>, <img>) so a process named `<img src=x>` arrives as `&lt;img src=x&gt;`. The summary is
plain text by the spec and is sent as is.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from portwatch.assets import resource_file
from portwatch.core.model import Alert, ListenerKey, Risk

log = logging.getLogger(__name__)

APP_NAME = "portwatch"
APP_ID = "io.github.portwatch.portwatch"  # icon name and .desktop file id
BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
URGENCY_NORMAL = 1
URGENCY_CRITICAL = 2
PICK_TIMEOUT = 1.0  # seconds pick() waits for the server's capabilities
REPLY_TIMEOUT_MS = 5000  # a Notify call without an answer by then goes to the fallback
TRAY_MESSAGE_MS = 10_000


def alert_key(alert: Alert) -> ListenerKey | None:
    """The listener a click on this alert's notification should show (the riskiest first)."""
    return alert.listeners[0].key if alert.listeners else None


class Notifier(QObject):
    """Shows alerts outside the window. Subclasses implement `notify`."""

    activated = Signal(object)  # ListenerKey of the alert whose notification was clicked
    name = "none"
    supports_actions = False

    def notify(self, alert: Alert) -> int:
        """Show `alert`; returns this notifier's id for it (0 when nothing was shown)."""
        raise NotImplementedError

    def withdraw(self, notification_id: int) -> None:
        """Take back a notification the user has dealt with elsewhere, when possible."""

    def close(self) -> None:
        """Release connections; the notifier is not used after this."""


class NullNotifier(Notifier):
    """Shows nothing outside the window; records what it was asked (tests inspect `shown`)."""

    name = "none"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.shown: list[Alert] = []

    def notify(self, alert: Alert) -> int:
        self.shown.append(alert)
        return 0


class TrayNotifier(Notifier):
    """Tray icon messages: the native notifications on macOS/Windows, Qt's balloon on X11.

    Qt shows these as plain text on every platform (its X11 balloon too: measured with Qt
    6.11, a process named `<b>bold<i>` shows literally), so the text is passed as is. A
    message has no buttons; clicking it activates the alert shown last."""

    name = "tray"

    def __init__(self, tray: QSystemTrayIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._ids = itertools.count(1)
        self._last_key: ListenerKey | None = None
        tray.messageClicked.connect(self._clicked)

    def notify(self, alert: Alert) -> int:
        icon = {
            Risk.HIGH: QSystemTrayIcon.MessageIcon.Critical,
            Risk.MEDIUM: QSystemTrayIcon.MessageIcon.Warning,
        }.get(alert.risk, QSystemTrayIcon.MessageIcon.Information)
        self._last_key = alert_key(alert)
        self._tray.showMessage(alert.title, alert.body, icon, TRAY_MESSAGE_MS)
        return next(self._ids)

    def _clicked(self) -> None:
        if self._last_key is not None:
            self.activated.emit(self._last_key)


# -- freedesktop notifications over D-Bus (jeepney) ------------------------------------------


def notification_body(body: str) -> str:
    """The plain-text body escaped for the spec's markup (<b>, <i>, <u>, <a>, <img>).

    Escaped whatever the capabilities say: dunst does not list "body-markup" (with its default
    configuration) yet still reads <img> in a body as an image (measured: a body holding
    `<img src=x>` arrived as "[image]"). A server that really shows the body as plain text
    then shows "&lt;" for "<": ugly, but it never reads another program's text as markup."""
    return html.escape(body, quote=False)


def notification_urgency(alert: Alert) -> int:
    return URGENCY_CRITICAL if alert.risk is Risk.HIGH else URGENCY_NORMAL


def notification_icon(data_dirs: list[str] | None = None) -> str:
    """The icon name when portwatch's icon is installed in an icon theme (make install-desktop,
    packages), else the absolute path of the icon that ships in resources/ (a checkout)."""
    if data_dirs is None:
        home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        data_dirs = [home, *(os.environ.get("XDG_DATA_DIRS") or
                             "/usr/local/share:/usr/share").split(":")]
    for base in data_dirs:
        for size in ("scalable", "48x48", "128x128"):
            folder = Path(base, "icons", "hicolor", size, "apps")
            if any(folder.glob(f"{APP_ID}.*")):
                return APP_ID
    shipped = resource_file(f"icons/hicolor/48x48/apps/{APP_ID}.png")
    if isinstance(shipped, Path) and shipped.is_file():
        return str(shipped)
    try:  # an importlib.resources Traversable that is a real file (wheel, bundle)
        path = Path(str(shipped))
    except TypeError:
        return APP_ID
    return str(path) if path.is_file() else APP_ID


def notify_arguments(alert: Alert, capabilities: frozenset[str], icon: str) -> tuple:
    """The arguments of org.freedesktop.Notifications.Notify (signature susssasa{sv}i)."""
    actions = ["default", "Show"] if "actions" in capabilities else []
    hints: dict[str, tuple[str, Any]] = {
        "urgency": ("y", notification_urgency(alert)),
        "desktop-entry": ("s", APP_ID),
        "category": ("s", "network"),
    }
    return (APP_NAME, 0, icon, alert.title, notification_body(alert.body),
            actions, hints, -1)


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


def _is_error(reply: Any) -> bool:
    from jeepney import MessageType

    return reply is None or reply.header.message_type is MessageType.error


def _error_text(reply: Any) -> str:
    if reply is None:
        return "no answer"
    from jeepney import HeaderFields

    name = reply.header.fields.get(HeaderFields.error_name, "error")
    detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
    return f"{name}: {detail}" if detail else str(name)


class DBusNotifier(Notifier):
    """freedesktop notifications (dunst, GNOME Shell, Plasma, ...) through jeepney.

    Each Notify call is sent at once and answered later; a call that fails or is not answered
    within 5 s shows the alert through `fallback` instead. When the connection to the bus is
    lost, the next alert reconnects (or uses the fallback)."""

    name = "dbus"

    def __init__(self, link: BusLink | None, capabilities: frozenset[str], *,
                 fallback: Notifier | None = None, icon: str | None = None,
                 reconnect: Callable[[Callable[[Any], None]], BusLink | None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.capabilities = capabilities
        self.fallback = fallback or NullNotifier(self)
        self.fallback.activated.connect(self.activated)
        self.icon = icon if icon is not None else notification_icon()
        self._reconnect = reconnect or BusLink.open
        self._ids = itertools.count(1)
        self._server_ids: dict[int, int] = {}  # our id -> the server's notification id
        self._keys: dict[int, ListenerKey | None] = {}  # server id -> listener to show
        self._link: BusLink | None = None
        if link is not None:
            self._adopt(link)

    @property
    def supports_actions(self) -> bool:  # type: ignore[override]
        return "actions" in self.capabilities

    def server_id(self, notification_id: int) -> int | None:
        """The server's id for one of our notifications, once the server has answered."""
        return self._server_ids.get(notification_id)

    # -- connection ------------------------------------------------------------------------

    def _adopt(self, link: BusLink) -> None:
        from jeepney.bus_messages import MatchRule, message_bus

        self._link = link
        link.setParent(self)
        link.lost.connect(self._lost)
        for member in ("ActionInvoked", "NotificationClosed"):
            rule = MatchRule(type="signal", interface=INTERFACE, member=member, path=OBJECT_PATH)
            link.call(message_bus.AddMatch(rule))

    def _lost(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.deleteLater()

    def _ensure_link(self) -> BusLink | None:
        if self._link is None or not self._link.connected:
            link = self._reconnect(self._signal)
            if link is not None:
                self._adopt(link)
                self.refresh_capabilities()
        return self._link

    def refresh_capabilities(self) -> None:
        """Ask the server for its capabilities again (answered later)."""
        if self._link is not None:
            self._link.call(_method("GetCapabilities"), self._capabilities_arrived)

    def _capabilities_arrived(self, reply: Any) -> None:
        if not _is_error(reply):
            self.capabilities = frozenset(reply.body[0])
            log.debug("notifications: server capabilities %s", sorted(self.capabilities))

    # -- notifications ---------------------------------------------------------------------

    def notify(self, alert: Alert) -> int:
        our_id = next(self._ids)
        key = alert_key(alert)
        link = self._ensure_link()
        message = _method("Notify", "susssasa{sv}i",
                          notify_arguments(alert, self.capabilities, self.icon))
        if link is None or not link.call(message, lambda reply: self._sent(our_id, key, alert,
                                                                           reply)):
            log.info("notifications: no D-Bus connection; using %s", self.fallback.name)
            self.fallback.notify(alert)
        return our_id

    def _sent(self, our_id: int, key: ListenerKey | None, alert: Alert, reply: Any) -> None:
        if _is_error(reply):
            log.warning("notifications: the server did not show the alert (%s); using %s",
                        _error_text(reply), self.fallback.name)
            self.fallback.notify(alert)
            return
        server_id = int(reply.body[0])
        self._server_ids[our_id] = server_id
        self._keys[server_id] = key
        log.debug("notifications: shown as %s: %s", server_id, alert.title)

    def withdraw(self, notification_id: int) -> None:
        server_id = self._server_ids.pop(notification_id, None)
        if server_id is not None and self._link is not None:
            self._keys.pop(server_id, None)
            self._link.call(_method("CloseNotification", "u", (server_id,)))

    def _signal(self, message: Any) -> None:
        from jeepney import HeaderFields

        fields = message.header.fields
        if fields.get(HeaderFields.interface) != INTERFACE:
            return
        member = fields.get(HeaderFields.member)
        if member == "ActionInvoked" and len(message.body) >= 2:
            server_id, action = int(message.body[0]), str(message.body[1])
            if server_id in self._keys:
                key = self._keys[server_id]
                log.debug("notifications: action %r on %s", action, server_id)
                if key is not None:
                    self.activated.emit(key)
        elif member == "NotificationClosed" and message.body:
            self._keys.pop(int(message.body[0]), None)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None


def _method(name: str, signature: str | None = None, body: tuple = ()) -> Any:
    from jeepney import DBusAddress, new_method_call

    address = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)
    return new_method_call(address, name, signature, body)


def connect_dbus(fallback: Notifier | None = None,
                 open_link: Callable[[Callable[[Any], None]], BusLink | None] = BusLink.open,
                 ) -> DBusNotifier | None:
    """A DBusNotifier when a notification server answers on the session bus, else None.

    Waits at most ~1 s for the server's capabilities. A server that is slow to answer (being
    started by D-Bus activation) is still used, with its capabilities asked again later."""
    notifier = DBusNotifier(None, frozenset(), fallback=fallback, reconnect=open_link)
    link = open_link(notifier._signal)
    if link is None:
        notifier.deleteLater()
        return None
    try:
        reply = link.call_blocking(_method("GetCapabilities"))
    except TimeoutError:
        log.info("notifications: the server is slow to answer; using it anyway")
        notifier._adopt(link)
        notifier.refresh_capabilities()
        return notifier
    except OSError as exc:
        log.info("notifications: D-Bus call failed (%s)", exc)
        link.close()
        notifier.deleteLater()
        return None
    if _is_error(reply):
        log.info("notifications: no notification server (%s)", _error_text(reply))
        link.close()
        notifier.deleteLater()
        return None
    notifier.capabilities = frozenset(reply.body[0])
    notifier._adopt(link)
    log.debug("notifications: server capabilities %s", sorted(notifier.capabilities))
    return notifier


def tray_can_notify(tray: QSystemTrayIcon | None) -> bool:
    return (tray is not None and QSystemTrayIcon.isSystemTrayAvailable()
            and QSystemTrayIcon.supportsMessages())


def pick(tray: QSystemTrayIcon | None = None, platform: str = sys.platform) -> Notifier:
    """The best notifier here: freedesktop D-Bus (not macOS/Windows), else the tray's
    messages, else NullNotifier."""
    fallback: Notifier = TrayNotifier(tray) if tray_can_notify(tray) else NullNotifier()
    if platform not in ("darwin", "win32"):
        notifier = connect_dbus(fallback)
        if notifier is not None:
            log.info("notifications: freedesktop D-Bus (fallback: %s)", fallback.name)
            return notifier
    log.info("notifications: %s", fallback.name)
    return fallback

