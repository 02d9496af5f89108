"""The in-window alert banner: plain text, risk, the Show/Acknowledge/Dismiss choices."""

from __future__ import annotations

import dataclasses
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from portwatch.core.model import (
    Alert,
    AlertKind,
    AnnotatedListener,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.gui.alerts import alert_banner
from portwatch.gui.alerts.alert_banner import AlertBanner

HOSTILE = "<img src=x><b>bold</b>"


def make_alert(risk: Risk = Risk.LOW, name: str = "python3", port: int = 8000,
               kind: AlertKind = AlertKind.OPENED) -> Alert:
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(4242, name))
    return Alert(kind, (AnnotatedListener(sock),), risk, time.time(),
                 f"New listener: port {port}/tcp ({name})",
                 f"{name} (pid 4242) on tcp 127.0.0.1:{port} — loopback only")


def test_hidden_until_there_is_an_alert(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    banner = AlertBanner(window)
    window.show()
    assert not banner.isVisible()
    banner.add_alert(make_alert())
    assert banner.isVisible()
    assert banner.count() == 1


def test_untrusted_text_is_shown_as_plain_text(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    alert = make_alert(Risk.HIGH, HOSTILE)
    item = banner.add_alert(alert)
    for label in (item.title_label, item.body_label, item.meta_label, banner.header):
        assert label.textFormat() == Qt.TextFormat.PlainText
    assert item.title_label.text() == alert.title
    assert HOSTILE in item.body_label.text()
    assert "Risk: High" in item.meta_label.text()


def test_newest_first_and_header_counts(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    first, second = make_alert(port=1), make_alert(port=2)
    banner.add_alert(first)
    banner.add_alert(second)
    assert banner.alerts() == [second, first]
    assert banner.header.text().startswith("2 new alerts")
    assert banner.ack_all_button.isVisibleTo(banner)


def test_worst_first_then_newest(qtbot):
    """The issue's case: a high Docker API alert must not sit under newer none and medium
    ones. Order: risk, then time (newest first)."""
    banner = AlertBanner()
    qtbot.addWidget(banner)
    now = time.time()
    high = dataclasses.replace(make_alert(Risk.HIGH, "dockerd", 2375), created_at=now)
    none = dataclasses.replace(make_alert(Risk.NONE, port=8001), created_at=now + 1)
    medium = dataclasses.replace(make_alert(Risk.MEDIUM, port=8002), created_at=now + 2)
    older_medium = dataclasses.replace(make_alert(Risk.MEDIUM, port=8003), created_at=now - 5)
    for alert in (high, none, medium, older_medium):
        banner.add_alert(alert)
    assert banner.alerts() == [high, medium, older_medium, none]
    shown = [banner._list_layout.itemAt(i).widget() for i in range(banner.count())]
    assert [item.alert for item in shown] == banner.alerts()  # on screen in the same order


def test_show_emits_the_listener_key(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    alert = make_alert(port=8123)
    item = banner.add_alert(alert)
    with qtbot.waitSignal(banner.show_requested, timeout=500) as blocker:
        item.show_button.click()
    assert blocker.args == [alert.listeners[0].key]
    assert banner.count() == 1  # showing does not deal with the alert


def test_acknowledge_and_dismiss_remove_the_alert(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    acked, dismissed = make_alert(port=1), make_alert(port=2)
    banner.add_alert(acked)
    banner.add_alert(dismissed)
    with qtbot.waitSignal(banner.acknowledge_requested, timeout=500) as blocker:
        banner.item(1).ack_button.click()
    assert blocker.args == [acked]
    with qtbot.waitSignals([banner.dismissed, banner.count_changed], timeout=500):
        banner.item(0).dismiss_button.click()
    assert banner.count() == 0
    assert not banner.isVisible()


def test_acknowledge_all(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    alerts = [make_alert(port=port) for port in (1, 2, 3)]
    for alert in alerts:
        banner.add_alert(alert)
    seen: list[Alert] = []
    banner.acknowledge_requested.connect(seen.append)
    banner.acknowledge_all()
    assert sorted(a.listeners[0].listener.port for a in seen) == [1, 2, 3]
    assert banner.count() == 0


def test_the_list_is_capped(qtbot, monkeypatch):
    monkeypatch.setattr(alert_banner, "MAX_ALERTS", 3)
    banner = AlertBanner()
    qtbot.addWidget(banner)
    for port in range(5):
        banner.add_alert(make_alert(port=port))
    assert [a.listeners[0].listener.port for a in banner.alerts()] == [4, 3, 2]
    assert banner.dropped == 2
    banner.add_alert(make_alert(Risk.HIGH, port=9))  # a worse one pushes out the lowest, oldest
    assert [a.listeners[0].listener.port for a in banner.alerts()] == [9, 4, 3]


def test_summary_and_start_up_alerts_say_so(qtbot):
    banner = AlertBanner()
    qtbot.addWidget(banner)
    item = banner.add_alert(make_alert(kind=AlertKind.OPENED_SINCE_LAST_RUN))
    assert "found at start-up" in item.meta_label.text()
