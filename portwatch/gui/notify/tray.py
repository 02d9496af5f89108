"""The tray icon: watching / new alerts / paused states, a tooltip with counts, and its menu.

`Tray` wraps a QSystemTrayIcon. Its menu (Show window, Pause monitoring / Resume monitoring,
Acknowledge all, Quit) is rebuilt each time it is about to show, so it always names the current
state; choices come out as signals and the composition root decides what they do.
`CloseToTray` makes closing the window hide it while the tray icon keeps watching, and says so
once per session. Without a system tray (`Tray.available()` false) neither is used and closing
the window quits.
"""

from __future__ import annotations

import enum
import functools
import logging

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon, QWidget

from portwatch.assets import resource_file
from portwatch.core.model import Alert
from portwatch.core.text import visible

log = logging.getLogger(__name__)

STILL_WATCHING_TITLE = "portwatch is still watching"
STILL_WATCHING_TEXT = ("The window is closed but portwatch keeps watching from the tray icon. "
                       "Choose Quit in its menu to stop.")


class TrayState(enum.Enum):
    WATCHING = "watching"
    ALERT = "alert"  # there are alerts the user has not dealt with yet
    PAUSED = "paused"


ICON_FILES = {
    TrayState.WATCHING: "icons/portwatch.svg",
    TrayState.ALERT: "icons/portwatch-alert.svg",
    TrayState.PAUSED: "icons/portwatch-paused.svg",
}
_FALLBACK_COLORS = {
    TrayState.WATCHING: "#2f6fd6",
    TrayState.ALERT: "#e65100",
    TrayState.PAUSED: "#757575",
}


@functools.cache
def state_icon(state: TrayState) -> QIcon:
    """The icon for a state from resources/icons, or a drawn one when the file is missing."""
    resource = resource_file(ICON_FILES[state])
    try:
        path = str(resource) if resource.is_file() else ""
    except OSError:
        path = ""
    icon = QIcon(path) if path else QIcon()
    if icon.isNull() or icon.pixmap(32, 32).isNull():
        log.info("tray: %s is missing or unreadable; drawing the icon", ICON_FILES[state])
        return drawn_icon(state)
    return icon


def drawn_icon(state: TrayState, size: int = 64) -> QIcon:
    """A plain eye on a coloured disc (orange for alerts, grey when paused)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(_FALLBACK_COLORS[state]))
    painter.drawEllipse(QRectF(2, 2, size - 4, size - 4))
    painter.setBrush(QColor("white"))
    painter.drawEllipse(QRectF(size * 0.18, size * 0.32, size * 0.64, size * 0.36))
    painter.setBrush(QColor("#102040"))
    painter.drawEllipse(QPointF(size / 2, size / 2), size * 0.13, size * 0.13)
    if state is TrayState.PAUSED:
        painter.setPen(QPen(QColor("white"), size * 0.08))
        painter.drawLine(QPointF(size * 0.2, size * 0.8), QPointF(size * 0.8, size * 0.2))
    painter.end()
    return QIcon(pixmap)


def tooltip_text(listening: int | None, reachable: int, alerts: int, paused: bool,
                 worst: Alert | None = None) -> str:
    """"portwatch — 23 listening, 4 reachable from the network, 2 new alerts", and on a second
    line the worst of those alerts ("high risk: Docker API opened on 0.0.0.0:2375")."""
    if listening is None:
        parts = ["starting"]
    else:
        parts = [f"{listening} listening", f"{reachable} reachable from the network"]
        if alerts:
            parts.append(f"{alerts} new alert" + ("" if alerts == 1 else "s"))
    text = "portwatch — " + ", ".join(parts)
    if paused:
        text += " (paused)"
    if alerts and worst is not None:
        head = "Worst: " if alerts > 1 else ""
        text += f"\n{head}{worst.risk.value} risk: {visible(worst.title)}"
    return text


class Tray(QObject):
    """The tray icon and its menu. Signals carry the user's choices."""

    show_requested = Signal()
    pause_requested = Signal(bool)  # True: pause monitoring; False: resume
    acknowledge_all_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._listening: int | None = None
        self._reachable = 0
        self._alerts = 0
        self._worst: Alert | None = None
        self._paused = False
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.rebuild_menu()  # some tray hosts (StatusNotifier) read the menu before showing it
        self._apply()

    @staticmethod
    def available() -> bool:
        """True when the desktop has a system tray to put the icon in."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> TrayState:
        if self._paused:
            return TrayState.PAUSED
        return TrayState.ALERT if self._alerts else TrayState.WATCHING

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def alert_count(self) -> int:
        return self._alerts

    def set_counts(self, listening: int, reachable: int) -> None:
        """How many listeners there are and how many are reachable from other machines."""
        if (listening, reachable) != (self._listening, self._reachable):
            self._listening, self._reachable = listening, reachable
            self._apply()

    def set_alert_count(self, count: int) -> None:
        """Alerts the user has not dealt with yet (0 returns to the watching icon)."""
        if count != self._alerts:
            self._alerts = max(0, count)
            self._apply()

    def set_worst_alert(self, alert: Alert | None) -> None:
        """The alert the tooltip names: the worst the user has not dealt with yet."""
        if alert is not self._worst:
            self._worst = alert
            self._apply()

    def set_paused(self, paused: bool) -> None:
        if paused != self._paused:
            self._paused = paused
            self._apply()

    def _apply(self) -> None:
        self.icon.setIcon(state_icon(self.state))
        self.icon.setToolTip(self.tooltip())

    def tooltip(self) -> str:
        return tooltip_text(self._listening, self._reachable, self._alerts, self._paused,
                            self._worst)

    # -- showing -----------------------------------------------------------------------------

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def is_visible(self) -> bool:
        return self.icon.isVisible()

    def message(self, title: str, text: str) -> None:
        """A short message from the tray icon (plain text: our own words only)."""
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 8000)

    # -- menu --------------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        """Fill the menu for the current state (connected to aboutToShow)."""
        menu = self.menu
        for action in menu.actions():
            menu.removeAction(action)
            if action.parent() is menu:
                action.deleteLater()
        self._add(menu, "Show window", self.show_requested.emit)
        if self._paused:
            self._add(menu, "Resume monitoring", lambda: self.pause_requested.emit(False))
        else:
            self._add(menu, "Pause monitoring", lambda: self.pause_requested.emit(True))
        label = f"Acknowledge all ({self._alerts})" if self._alerts else "Acknowledge all"
        ack = self._add(menu, label, self.acknowledge_all_requested.emit)
        ack.setEnabled(self._alerts > 0)
        menu.addSeparator()
        self._add(menu, "Quit", self.quit_requested.emit)

    @staticmethod
    def _add(menu: QMenu, text: str, slot) -> QAction:
        action = QAction(text, menu)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def action_texts(self) -> list[str]:
        """The menu as the user sees it (separators as "")."""
        return [action.text() for action in self.menu.actions()]

    def trigger(self, text: str) -> None:
        """Trigger the menu entry whose text starts with `text` (tests, keyboard users)."""
        for action in self.menu.actions():
            if action.text().startswith(text) and action.isEnabled():
                action.trigger()
                return
        raise KeyError(text)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()


class CloseToTray(QObject):
    """Watches the main window's Close events while the tray icon keeps portwatch running.

    Closing the window only hides it (the application does not quit on its last window, see
    `keep_running_in_tray`). The first time the user closes it in a session, a tray message
    says portwatch is still watching. The event is never refused: Qt 6's QApplication.quit()
    closes every window first and gives up when one refuses (measured), so refusing would
    break File > Quit. If the tray has gone away since start-up, closing quits."""

    def __init__(self, window: QWidget, tray: Tray) -> None:
        super().__init__(window)
        self._window = window
        self._tray = tray
        self._quitting = False
        self.told = False
        window.installEventFilter(self)

    def quitting(self) -> None:
        """The application is quitting: closes from now on say nothing."""
        self._quitting = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close:
            self.window_closing(event.spontaneous())
        return False

    def window_closing(self, by_user: bool) -> None:
        """React to the window closing; `by_user` when the window system asked (not quit())."""
        if self._quitting or not by_user:
            return
        if not (self._tray.is_visible() and Tray.available()):
            log.info("window closed and no tray icon to come back from: quitting")
            QTimer.singleShot(0, QApplication.quit)
            return
        if not self.told:
            self.told = True
            self._tray.message(STILL_WATCHING_TITLE, STILL_WATCHING_TEXT)
            log.info("window closed; still watching from the tray")


def show_window(window: QWidget) -> None:
    """Bring the window back from the tray or from behind other windows."""
    if window.isMinimized():
        window.showNormal()
    else:
        window.show()
    window.raise_()
    window.activateWindow()


def keep_running_in_tray(app: QApplication, window: QWidget, tray: Tray) -> CloseToTray:
    """Show the tray icon; closing the window then hides it, and only Quit ends portwatch.

    Qt would otherwise quit when its last visible window closes, which with a hidden main
    window can be a tray balloon or a dialog."""
    tray.show()
    app.setQuitOnLastWindowClosed(False)
    return CloseToTray(window, tray)
