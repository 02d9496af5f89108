"""Alerts in their own bounded place: the Alerts dock and its toolbar button. Three alerts
arriving leave the table where it was; the list is worst first; an alert whose listener closed
says so; the times say what they are."""

from __future__ import annotations

import time

import pytest
from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtCore import QObject, QPoint, Signal
from PySide6.QtWidgets import QApplication

from portwatch.core.model import Alert, AlertKind, AnnotatedListener, Risk
from portwatch.core.settings import Settings
from portwatch.gui.alerting import AlertCenter
from portwatch.gui.main_window import MainWindow


class Worker(QObject):
    """Only the `polled` signal AlertCenter connects to; the test calls on_polled itself."""

    polled = Signal(object)


def alert_for(item: AnnotatedListener, risk: Risk, when: float | None = None) -> Alert:
    port = item.listener.port
    return Alert(AlertKind.OPENED, (item,), risk, when or time.time(),
                 f"New listener: port {port}/tcp", f"server on tcp 127.0.0.1:{port}")


@pytest.fixture
def parts(qtbot):
    window = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(window)
    worker = Worker()
    center = AlertCenter(window, worker, Settings(notifications=False))
    window.show()
    qtbot.waitExposed(window)
    yield window, center
    window.shutdown()


def geometry(widget) -> tuple:
    top_left = widget.mapTo(widget.window(), QPoint(0, 0))
    return top_left.x(), top_left.y(), widget.width(), widget.height()


def test_three_alerts_leave_the_table_where_it_was(qtbot, parts):
    window, center = parts
    scripted = ScriptedMonitor()
    result = scripted.poll([listener(22, address="0.0.0.0"), listener(80), listener(8080),
                            listener(3389, address="0.0.0.0")])
    window.apply_poll(result)
    QApplication.processEvents()
    before = geometry(window.table)
    rows = {item.listener.port: item for item in result.rows}
    for port, risk in ((80, Risk.LOW), (3389, Risk.HIGH), (8080, Risk.MEDIUM)):
        center.raise_alert(alert_for(rows[port], risk))
        QApplication.processEvents()
        assert geometry(window.table) == before
    assert window.alert_dock.toggle_action.text() == "Alerts (3)"
    assert "the worst High risk" in window.alert_dock.toggle_action.statusTip()
    assert not window.alert_dock.isVisible()  # it never opens by itself
    # Worst first, whatever the order they came in
    assert [a.risk for a in center.banner.alerts()] == [Risk.HIGH, Risk.MEDIUM, Risk.LOW]
    window.alert_dock.toggle_action.trigger()  # the user opens the list
    qtbot.waitUntil(lambda: center.banner.isVisible(), timeout=5000)
    assert center.banner.item(0).isVisible()


def test_an_alert_says_when_its_listener_closed_and_what_its_times_are(qtbot, parts):
    window, center = parts
    scripted = ScriptedMonitor()
    first = scripted.poll([listener(22)])
    window.apply_poll(first)
    center.on_polled(first)
    second = scripted.poll([listener(22), listener(8080)])  # 8080 first seen here
    window.apply_poll(second)
    center.on_polled(second)
    seen = second.snapshot.taken_at
    third = scripted.poll([listener(22), listener(8080)])
    new = next(item for item in third.rows if item.listener.port == 8080)
    alert = alert_for(new, Risk.LOW, when=seen + 2)  # alerted one scan later
    window.apply_poll(third)
    center.raise_alert(alert)
    item = center.banner.item(0)
    meta = item.meta_label.text()
    since = time.strftime("%H:%M:%S", time.localtime(seen))
    alerted = time.strftime("%H:%M:%S", time.localtime(seen + 2))
    assert f"listening since {since}" in meta and f"alerted {alerted}" in meta
    assert item.closed_at is None and not item.closed_label.isVisibleTo(item)
    closed = scripted.poll([listener(22)])
    window.apply_poll(closed)
    center.on_polled(closed)
    assert item.closed_at == closed.snapshot.taken_at
    assert item.closed_label.isVisibleTo(item)
    assert "No longer listening" in item.closed_label.text()
    assert not item.show_button.isEnabled()
    assert "Closed at" in item.accessibleDescription()
    again = scripted.poll([listener(22), listener(8080)])
    window.apply_poll(again)
    center.on_polled(again)
    assert item.closed_at is None and item.show_button.isEnabled()


def test_the_window_with_its_alerts_fits_a_1280_pixel_screen(qtbot, parts):
    """The dock open, an alert in it and a long scan problem in the status bar: the window
    still fits 1280 px (it once grew past the screen's edge and cut the dock off)."""
    window, center = parts
    scripted = ScriptedMonitor()
    result = scripted.poll([listener(22, address="0.0.0.0")])
    window.apply_poll(result)
    center.raise_alert(alert_for(result.rows[0], Risk.HIGH))
    long_word = Alert(AlertKind.OPENED, (result.rows[0],), Risk.LOW, time.time(),
                      "New listener: port 22/tcp (" + "<img-src=x>" * 20 + ")", "x" * 300)
    center.raise_alert(long_word)  # one unbreakable word: cut, not widening the window
    window.status.show_problem("Scan incomplete: " + "a very long explanation " * 20)
    window.alert_dock.toggle_action.trigger()
    qtbot.waitUntil(window.alert_dock.isVisible, timeout=5000)
    assert window.minimumSizeHint().width() <= 1280
    window.resize(1280, 780)
    QApplication.processEvents()
    assert window.width() == 1280
    item = center.banner.item(0)
    dock_right = window.alert_dock.mapTo(window, QPoint(window.alert_dock.width(), 0)).x()
    button_right = item.dismiss_button.mapTo(window, QPoint(item.dismiss_button.width(), 0)).x()
    assert button_right <= dock_right <= 1280  # every button inside the window
