"""The in-window alert list: each new-listener alert with its reason, risk and what to do about it.

`AlertBanner` is the list (in the window it lives in the Alerts dock: alert_dock.py) and is
hidden while there is nothing to tell. Alerts are ordered worst first, then newest first. Each
shows its title and body (process names are text from other programs: every label is
Qt.PlainText), its risk as a word and an icon (and a colour), when its listener started
listening and when it alerted, whether the listener has closed since, and its buttons: Show
(select the listener in the table), Acknowledge (never alert for this program on this port
again), Ignore… (make an ignore rule from it; shown once something can store rules) and
Dismiss (just hide this alert). The banner only emits what the user chose; the AlertCenter and
the rules editor act on it.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Collection

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from portwatch.core.alerts.rules import worst_first
from portwatch.core.model import Alert, AlertKind, ListenerKey, Risk
from portwatch.gui.style.plain import plain_label, plain_tooltip
from portwatch.gui.style.risk_style import RISK_COLORS, risk_icon, risk_label

log = logging.getLogger(__name__)

MAX_ALERTS = 50  # the lowest, oldest alerts beyond this are dropped (they are in History)
VISIBLE_ITEMS = 2.6  # the list scrolls beyond about this many alerts

ACK_TOOLTIP = ("Never alert again for this program listening on this port with this exposure "
               "(remembered across restarts)")
SHOW_TOOLTIP = "Select this listener in the table"
IGNORE_TOOLTIP = ("Never alert for this program, this port or a range of ports (you choose,"
                  " then the rule is remembered)")
DISMISS_TOOLTIP = "Hide this alert (the next new listener still alerts)"
CLOSED_TOOLTIP = "This listener has closed since the alert"


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def _tint(color: str, alpha: int) -> str:
    value = QColor(color)
    return f"rgba({value.red()}, {value.green()}, {value.blue()}, {alpha})"


class AlertItem(QFrame):
    """One alert: risk icon, title, body, time, and its three buttons."""

    show_clicked = Signal(object)  # Alert
    acknowledge_clicked = Signal(object)
    ignore_clicked = Signal(object)
    dismiss_clicked = Signal(object)

    def __init__(self, alert: Alert, parent: QWidget | None = None,
                 listening_since: float | None = None) -> None:
        super().__init__(parent)
        self.alert = alert
        self.listening_since = listening_since  # when the table first saw its listener
        self.closed_at: float | None = None
        self.all_keys = frozenset(row.key for row in alert.listeners)
        self.open_keys = set(self.all_keys)  # those still listening
        self.setObjectName("alertItem")
        color = RISK_COLORS[alert.risk] if alert.risk is not Risk.NONE else "#3578e5"
        self.setStyleSheet(
            f"#alertItem {{ border: 1px solid {_tint(color, 140)};"
            f" border-left: 5px solid {color}; border-radius: 3px;"
            f" background: {_tint(color, 28)}; }}")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

        icon = QLabel(self)
        icon.setPixmap(risk_icon(alert.risk, 16).pixmap(QSize(16, 16)))
        icon.setToolTip(f"Risk: {risk_label(alert.risk)}")
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.title_label = plain_label(alert.title, self)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        self.closed_label = plain_label("", self)
        self.closed_label.setObjectName("alertClosed")
        self.closed_label.setToolTip(CLOSED_TOOLTIP)
        self.closed_label.hide()
        self.body_label = plain_label(alert.body, self)
        self.body_label.setWordWrap(True)
        self.body_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta_label = plain_label(self._meta_text(), self)
        self.meta_label.setWordWrap(True)
        meta_font = self.meta_label.font()
        meta_font.setPointSizeF(max(meta_font.pointSizeF() * 0.9, 7.0))
        self.meta_label.setFont(meta_font)
        # A long word (a path, a hostile process name) is cut at the list's edge rather than
        # widening the dock, and with it the window, past the screen; the tooltip has it all.
        for label in (self.title_label, self.closed_label, self.body_label, self.meta_label):
            label.setMinimumWidth(1)
        self.title_label.setToolTip(plain_tooltip(alert.title))
        self.setAccessibleName(f"Alert, {risk_label(alert.risk)} risk: {alert.title}")
        self.setAccessibleDescription(f"{alert.body}. {self._meta_text()}")

        self.show_button = self._button("Show", SHOW_TOOLTIP, self.show_clicked)
        self.show_button.setEnabled(bool(alert.listeners))
        self.ack_button = self._button("Acknowledge", ACK_TOOLTIP, self.acknowledge_clicked)
        self.ignore_button = self._button("Ignore…", IGNORE_TOOLTIP, self.ignore_clicked)
        self.ignore_button.setEnabled(bool(alert.listeners))
        self.ignore_button.setVisible(False)  # until the banner can store rules
        self.dismiss_button = self._button("Dismiss", DISMISS_TOOLTIP, self.dismiss_clicked)
        bottom = QGridLayout()  # under the text, two by two: a narrow list (the dock) fits them
        bottom.setSpacing(6)
        for place, button in enumerate((self.show_button, self.ack_button, self.ignore_button,
                                        self.dismiss_button)):
            bottom.addWidget(button, place // 2, place % 2)
        bottom.setColumnStretch(2, 1)

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title_label)
        text.addWidget(self.closed_label)
        text.addWidget(self.body_label)
        text.addWidget(self.meta_label)
        text.addLayout(bottom)

        row = QHBoxLayout(self)
        row.setContentsMargins(8, 6, 8, 6)
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)

    def _meta_text(self) -> str:
        """What the times are: when the listener started listening (as far as portwatch saw:
        its First seen), and when the alert was raised."""
        alert = self.alert
        when = _clock(alert.created_at)
        if alert.kind is AlertKind.OPENED_SINCE_LAST_RUN:
            times = f"found at start-up {when}"
        elif alert.kind is AlertKind.SUMMARY:
            times = f"opened together · alerted {when}"
        else:
            since = self.listening_since if self.listening_since is not None \
                else alert.created_at
            times = f"listening since {_clock(since)} · alerted {when}"
        return f"Risk: {risk_label(alert.risk)} · {times}"

    def set_closed(self, closed_at: float | None) -> None:
        """Mark the alert's listener(s) as closed since (None: listening again)."""
        if (closed_at is None) == (self.closed_at is None):
            return
        self.closed_at = closed_at
        if closed_at is None:
            self.closed_label.hide()
        else:
            self.closed_label.setText(f"✕ No longer listening: closed at {_clock(closed_at)}")
            self.closed_label.show()
        self.show_button.setEnabled(bool(self.alert.listeners) and closed_at is None)
        state = f"Closed at {_clock(closed_at)}. " if closed_at is not None else ""
        self.setAccessibleDescription(f"{state}{self.alert.body}. {self._meta_text()}")

    def _button(self, text: str, tooltip: str, signal: Signal) -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tooltip)
        button.setAutoDefault(False)
        button.clicked.connect(lambda: signal.emit(self.alert))
        return button


class AlertBanner(QFrame):
    """The list of alerts the user has not dealt with, worst first (highest risk, then
    newest); hidden when empty."""

    show_requested = Signal(object)  # ListenerKey to select in the table
    acknowledge_requested = Signal(object)  # Alert: never alert for its listeners again
    ignore_requested = Signal(object)  # Alert: make an ignore rule from its (first) listener
    dismissed = Signal(object)  # Alert the user hid (acknowledged ones are not "dismissed")
    count_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setAccessibleName("Alert list")
        self.setAccessibleDescription("New listeners portwatch alerted about, worst first")
        self._items: list[AlertItem] = []
        self._can_ignore = False
        self.dropped = 0  # alerts pushed out of the list by worse or newer ones
        # When the table first saw a listener (MainWindow sets it: the model's First seen).
        self.first_seen: Callable[[ListenerKey], float | None] = lambda _key: None
        self.fixed_height = True  # False: the list takes the height it is given (a dock)

        self.header = plain_label("", self)
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self.header.setWordWrap(True)
        self.header.setMinimumWidth(1)  # the list's width is the dock's, not the header's
        self.ack_all_button = QPushButton("Acknowledge all", self)
        self.ack_all_button.setToolTip(ACK_TOOLTIP)
        self.ack_all_button.clicked.connect(self.acknowledge_all)
        self.dismiss_all_button = QPushButton("Dismiss all", self)
        self.dismiss_all_button.clicked.connect(self.dismiss_all)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.header, 1)
        head.addWidget(self.ack_all_button)
        head.addWidget(self.dismiss_all_button)

        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(4)
        self._list_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(self._list)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.scroll)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self._refresh()

    # -- contents ----------------------------------------------------------------------------

    def add_alert(self, alert: Alert) -> AlertItem:
        """Show a new alert in its place: after every alert of a higher risk, before the older
        ones of its own risk. A full list drops its last (lowest, oldest) alert."""
        since = self.first_seen(alert.listeners[0].key) if alert.listeners else None
        item = AlertItem(alert, self._list, listening_since=since)
        item.show_clicked.connect(self._show)
        item.acknowledge_clicked.connect(self._acknowledge)
        item.ignore_clicked.connect(self.ignore_requested)
        item.dismiss_clicked.connect(self._dismiss)
        item.ignore_button.setVisible(self._can_ignore)
        keys = [worst_first(other.alert) for other in self._items]
        index = bisect.bisect_left(keys, worst_first(alert))  # before equals: newer
        self._items.insert(index, item)
        self._list_layout.insertWidget(index, item)
        while len(self._items) > MAX_ALERTS:
            last = self._items.pop()
            self.dropped += 1
            log.debug("alert list full; dropping %s", last.alert.title)
            last.deleteLater()
        self._refresh()
        self.scroll.verticalScrollBar().setValue(0)
        return item

    def mark_changes(self, closed: Collection[ListenerKey], opened: Collection[ListenerKey],
                     when: float) -> None:
        """After a poll: an alert all of whose listeners have closed is marked closed (at
        `when`, the first scan that missed them); one whose listener listens again is not."""
        if not self._items or not (closed or opened):
            return
        for item in self._items:
            keys = item.open_keys
            if not item.alert.listeners:
                continue
            keys.difference_update(key for key in closed if key in item.all_keys)
            keys.update(key for key in opened if key in item.all_keys)
            if not keys and item.closed_at is None:
                item.set_closed(when)
            elif keys and item.closed_at is not None:
                item.set_closed(None)

    def alerts(self) -> list[Alert]:
        """The alerts shown, worst first."""
        return [item.alert for item in self._items]

    def count(self) -> int:
        return len(self._items)

    def item(self, index: int) -> AlertItem:
        return self._items[index]

    def remove(self, alert: Alert) -> bool:
        """Take an alert off the list (it was dealt with elsewhere). False if not shown."""
        for item in self._items:
            if item.alert is alert:
                self._items.remove(item)
                item.hide()
                item.deleteLater()
                self._refresh()
                return True
        return False

    def set_ignore_available(self, available: bool) -> None:
        """Show the Ignore… buttons (when something listens to `ignore_requested`)."""
        self._can_ignore = available
        for item in self._items:
            item.ignore_button.setVisible(available)

    def acknowledge_all(self) -> None:
        for alert in self.alerts():
            self._acknowledge(alert)

    def dismiss_all(self) -> None:
        for alert in self.alerts():
            self._dismiss(alert)

    # -- the user's choices ------------------------------------------------------------------

    def _show(self, alert: Alert) -> None:
        if alert.listeners:
            self.show_requested.emit(alert.listeners[0].key)

    def _acknowledge(self, alert: Alert) -> None:
        if self.remove(alert):
            self.acknowledge_requested.emit(alert)

    def _dismiss(self, alert: Alert) -> None:
        if self.remove(alert):
            self.dismissed.emit(alert)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """Room for two alerts and part of a third, so a longer list visibly scrolls (unless
        the list takes the height it is given)."""
        if not self._items or not self.fixed_height:
            return
        width = max(self.scroll.viewport().width(), 200)
        heights = []
        for item in self._items[:3]:
            hint = item.heightForWidth(width) if item.hasHeightForWidth() else -1
            heights.append((hint if hint > 0 else item.sizeHint().height()) + 4)
        if len(heights) == 3:
            heights[2] = int(heights[2] * (VISIBLE_ITEMS - 2))
        self.scroll.setFixedHeight(max(sum(heights) - 4, 40))

    def _refresh(self) -> None:
        count = len(self._items)
        self.header.setText(f"{count} new alert" + ("" if count == 1 else "s") + ", worst first")
        several = count > 1
        self.ack_all_button.setVisible(several)
        self.dismiss_all_button.setVisible(several)
        self.setVisible(count > 0)
        self._fit_height()
        self.count_changed.emit(count)
