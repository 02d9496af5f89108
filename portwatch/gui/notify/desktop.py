"""Desktop notifications for alerts, behind one small interface with a do-nothing fallback.

`pick(tray)` chooses a backend at start-up (the interface is notifier.Notifier):

- Linux (and other freedesktop desktops): freedesktop.DBusNotifier, the freedesktop
  Notifications D-Bus call sent with jeepney over a bus.BusLink read on the GUI thread's event
  loop. Only `pick()` waits, at most ~1 s, for the server's capabilities.
- When no notification server answers, or on macOS and Windows: notifier.TrayNotifier, the tray
  icon's own messages.
- Without a tray either: notifier.NullNotifier (the in-window alerts list still shows every
  alert).
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtWidgets import QSystemTrayIcon

from portwatch.gui.notify.freedesktop import connect_dbus
from portwatch.gui.notify.notifier import Notifier, NullNotifier, TrayNotifier

log = logging.getLogger(__name__)


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
