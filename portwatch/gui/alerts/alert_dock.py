"""The Alerts dock and its toolbar button: alerts in their own bounded place, never above the
table, so an alert arriving never moves or shrinks the table under the pointer.

The window's toolbar (built with the window, so its height never changes) ends with a
checkable *Alerts (N)* button, coloured by the worst alert's risk, that shows and hides a dock
on the right holding the alert list (alert_banner.py). The dock does not open by itself: an
arriving alert only changes the button's count (and the tray icon and notification tell the
user); whether the dock is open, and its width, are remembered with the window's state.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.model import Risk
from portwatch.gui.style.risk_style import risk_icon, risk_label

EMPTY_TEXT = ("No alerts. When a new program starts listening, it is listed here, worst"
              " first, with what to do about it.")


class AlertDock(QDockWidget):
    """The dock that holds the alert list; `toggle_action` is the toolbar's Alerts button."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__("Alerts", window)
        self.setObjectName("alertsDock")
        self.setAccessibleName("Alerts")
        self.setAccessibleDescription("New listeners portwatch alerted about, worst first")
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea
                             | Qt.DockWidgetArea.LeftDockWidgetArea
                             | Qt.DockWidgetArea.BottomDockWidgetArea)
        body = QWidget(self)
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self.empty_label = QLabel(EMPTY_TEXT, body)
        self.empty_label.setObjectName("alertsEmpty")
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._layout.addWidget(self.empty_label, 1)
        self.setWidget(body)
        self.setMinimumWidth(300)  # an alert's buttons, two by two
        self.banner: QWidget | None = None

        self.toggle_action: QAction = self.toggleViewAction()
        self.toggle_action.setObjectName("alertsAction")
        self.toggle_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.toggle_action.setToolTip("Show or hide the list of alerts (Ctrl+Shift+A)")
        self.show_count(0, None)

    def set_banner(self, banner: QWidget) -> None:
        """Put the alert list in the dock; its `count_changed(int)` updates the button."""
        self.banner = banner
        if hasattr(banner, "fixed_height"):
            banner.fixed_height = False  # type: ignore[attr-defined]
            scroll = getattr(banner, "scroll", None)
            if scroll is not None:
                scroll.setMinimumHeight(0)
                scroll.setMaximumHeight(16_777_215)
        banner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._layout.insertWidget(0, banner, 1)
        count_changed = getattr(banner, "count_changed", None)
        if count_changed is not None:
            count_changed.connect(self._count_changed)
            self._count_changed(banner.count())  # type: ignore[attr-defined]

    def _count_changed(self, count: int) -> None:
        alerts = getattr(self.banner, "alerts", None)
        worst = max((a.risk for a in alerts()), key=lambda r: r.rank) if alerts and count \
            else None
        self.show_count(count, worst)

    def show_count(self, count: int, worst: Risk | None) -> None:
        """The button and the dock's title say how many alerts wait and the worst risk, in
        words (and in the icon's colour)."""
        self.setWindowTitle(f"Alerts ({count})")  # also the toggle action's text
        self.empty_label.setVisible(count == 0)
        if worst is None:
            self.toggle_action.setIcon(risk_icon(Risk.NONE))
            self.toggle_action.setStatusTip("No alerts")
        else:
            self.toggle_action.setIcon(risk_icon(worst))
            self.toggle_action.setStatusTip(
                f"{count} alert{'s' if count != 1 else ''}, the worst {risk_label(worst)} risk")
        self.toggle_action.setToolTip(f"{self.toggle_action.statusTip()}: show or hide the"
                                      " list of alerts (Ctrl+Shift+A)")


def install_alert_dock(window: QMainWindow, actions: list[QAction]) -> AlertDock:
    """The window's toolbar (`actions`, then the Alerts button at its right end) and the
    Alerts dock, hidden until the user opens it."""
    toolbar = QToolBar("Toolbar", window)
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setAccessibleName("Toolbar")
    for action in actions:
        toolbar.addAction(action)
    spacer = QWidget(toolbar)
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    toolbar.addWidget(spacer)
    dock = AlertDock(window)
    toolbar.addAction(dock.toggle_action)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()
    window.toolbar = toolbar  # type: ignore[attr-defined]
    return dock
