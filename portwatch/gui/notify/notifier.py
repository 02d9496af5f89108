"""The notifier interface and the backends that need no D-Bus: the tray's messages and a
do-nothing fallback.

`Notifier` is the interface: `notify(alert)` returns an id, `supports_actions` says whether a
notification can carry a "Show" button, and `activated` carries the ListenerKey of the alert
whose notification the user clicked. `TrayNotifier` shows the tray icon's own messages (the
native notifications on macOS and Windows; Qt's balloon with an XEmbed tray on X11; the
macOS/Windows path is only exercised by unit tests here). `NullNotifier` shows nothing (the
in-window alerts list still shows every alert).
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from portwatch.core.model import Alert, ListenerKey, Risk

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
