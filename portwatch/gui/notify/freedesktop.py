"""freedesktop notifications (dunst, GNOME Shell, Plasma, ...) sent with jeepney.

`DBusNotifier` sends the Notifications D-Bus call through a `BusLink` (QDBusInterface sent
wrong argument types; dunst answered InvalidArgs); `connect_dbus()` makes one when a
notification server answers on the session bus, waiting at most ~1 s for its capabilities.

The alert body is plain text; it is escaped for the server's markup (the spec allows <b>, <i>,
<a>, <img>) so a process named `<img src=x>` arrives as `&lt;img src=x&gt;`. The summary is
plain text by the spec and is sent as is.
"""

from __future__ import annotations

import html
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from portwatch.assets import resource_file
from portwatch.core.model import Alert, ListenerKey, Risk
from portwatch.gui.notify.bus import (
    INTERFACE,
    OBJECT_PATH,
    BusLink,
    error_text,
    is_error,
    method_call,
)
from portwatch.gui.notify.notifier import Notifier, NullNotifier, alert_key

log = logging.getLogger(__name__)

APP_NAME = "portwatch"
APP_ID = "io.github.portwatch.portwatch"  # icon name and .desktop file id
URGENCY_NORMAL = 1
URGENCY_CRITICAL = 2


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
            self._link.call(method_call("GetCapabilities"), self._capabilities_arrived)

    def _capabilities_arrived(self, reply: Any) -> None:
        if not is_error(reply):
            self.capabilities = frozenset(reply.body[0])
            log.debug("notifications: server capabilities %s", sorted(self.capabilities))

    # -- notifications ---------------------------------------------------------------------

    def notify(self, alert: Alert) -> int:
        our_id = next(self._ids)
        key = alert_key(alert)
        link = self._ensure_link()
        message = method_call("Notify", "susssasa{sv}i",
                          notify_arguments(alert, self.capabilities, self.icon))
        if link is None or not link.call(message, lambda reply: self._sent(our_id, key, alert,
                                                                           reply)):
            log.info("notifications: no D-Bus connection; using %s", self.fallback.name)
            self.fallback.notify(alert)
        return our_id

    def _sent(self, our_id: int, key: ListenerKey | None, alert: Alert, reply: Any) -> None:
        if is_error(reply):
            log.warning("notifications: the server did not show the alert (%s); using %s",
                        error_text(reply), self.fallback.name)
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
            self._link.call(method_call("CloseNotification", "u", (server_id,)))

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
        reply = link.call_blocking(method_call("GetCapabilities"))
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
    if is_error(reply):
        log.info("notifications: no notification server (%s)", error_text(reply))
        link.close()
        notifier.deleteLater()
        return None
    notifier.capabilities = frozenset(reply.body[0])
    notifier._adopt(link)
    log.debug("notifications: server capabilities %s", sorted(notifier.capabilities))
    return notifier
