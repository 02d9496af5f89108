"""AlertCenter: alerts from the worker reach the banner, the tray and the notifier; clicks select
the listener; acknowledgements run in the worker's thread."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from gui_rows import Recorder
from PySide6.QtCore import QObject, QThread, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QVBoxLayout, QWidget

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.alerts.rules import AlertRules, identity
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
    Snapshot,
)
from portwatch.core.monitor import PollResult
from portwatch.core.store.settings import Settings
from portwatch.gui.alerts.alerting import AlertCenter, reachable_count
from portwatch.gui.notify.notifier import NullNotifier
from portwatch.gui.notify.tray import Tray, TrayState


def row(port: int, exposure: Exposure = Exposure.LOOPBACK, name: str = "python3"):
    address = "127.0.0.1" if exposure is Exposure.LOOPBACK else "0.0.0.0"
    return AnnotatedListener(Listener(Proto.TCP, Family.IPV4, address, port, exposure,
                                      ProcessInfo(4242, name, exe=f"/usr/bin/{name}")))


def alert_for(*rows: AnnotatedListener, risk: Risk = Risk.LOW) -> Alert:
    return Alert(AlertKind.OPENED, rows, risk, time.time(),
                 f"New listener: port {rows[0].listener.port}/tcp", "body")


def poll(rows, alerts=()) -> PollResult:
    rows = tuple(rows)
    return PollResult(Snapshot(time.time(), tuple(r.listener for r in rows)), rows, (), (), (),
                      False, 0.0, tuple(alerts))


class FakeWindow(QWidget):
    """The parts of MainWindow the AlertCenter uses."""

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.selected: list = []
        self.messages: list[str] = []
        self.pause_action = QAction("Pause", self)
        self.pause_action.setCheckable(True)

    def add_banner(self, widget: QWidget) -> None:
        self.layout_.addWidget(widget)

    def select_listener(self, key) -> bool:
        self.selected.append(key)
        return True

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        self.messages.append(text)


class FakeWorker(QObject):
    polled = Signal(object)


class ThreadRecordingMemory(InMemoryAlertMemory):
    def __init__(self) -> None:
        super().__init__()
        self.ack_threads: list[int] = []

    def acknowledge(self, identity) -> None:
        self.ack_threads.append(threading.get_ident())
        super().acknowledge(identity)


@pytest.fixture
def worker_thread():
    thread = QThread()
    worker = FakeWorker()
    worker.moveToThread(thread)
    thread.start()
    yield worker
    thread.quit()
    thread.wait(5000)


@pytest.fixture
def center_parts(qtbot, worker_thread):
    window = FakeWindow()
    qtbot.addWidget(window)
    memory = ThreadRecordingMemory()
    rules = AlertRules(memory)
    notifier = NullNotifier()
    tray = Tray()
    center = AlertCenter(window, worker_thread, Settings(), notifier=notifier, tray=tray,
                         rules=rules)
    return center, window, notifier, tray, memory


def test_reachable_count():
    assert reachable_count([row(1), row(2, Exposure.ALL_INTERFACES),
                            row(3, Exposure.LOCAL_NETWORK)]) == 2


def test_reachable_count_leaves_out_what_the_firewall_blocks():
    from portwatch.core.firewall import FirewallVerdict

    def behind(verdict: str) -> AnnotatedListener:
        return dataclasses.replace(row(4, Exposure.ALL_INTERFACES), firewall=FirewallVerdict(
            verdict, ("eth0",), "table inet filter, chain input, policy drop", "…"))

    assert reachable_count([behind("drop"), behind("reject")]) == 0
    assert reachable_count([behind("accept"), behind("unknown")]) == 2  # unknown: no comfort


def test_alerts_reach_banner_tray_and_notifier(center_parts, qtbot):
    center, window, notifier, tray, _memory = center_parts
    rows = [row(22, Exposure.ALL_INTERFACES), row(8000)]
    alert = alert_for(rows[1])
    center.on_polled(poll(rows, [alert]))
    assert window.findChild(type(center.banner)) is center.banner
    assert center.banner.alerts() == [alert]
    assert notifier.shown == [alert]
    assert tray.state is TrayState.ALERT
    assert tray.icon.toolTip() == (
        "portwatch — 2 listening, 1 reachable from the network, 1 new alert\n"
        "low risk: New listener: port 8000/tcp")


def test_one_polls_alerts_are_shown_and_notified_worst_first(center_parts, qtbot):
    """Banner, notifications and the tray's summary put the highest risk first, then the
    newest, whatever order the alerts came in."""
    center, _window, notifier, tray, _memory = center_parts
    now = time.time()
    none = Alert(AlertKind.OPENED, (row(8001),), Risk.NONE, now + 2, "none alert", "")
    medium = Alert(AlertKind.OPENED, (row(8002),), Risk.MEDIUM, now + 1, "medium alert", "")
    high = Alert(AlertKind.OPENED, (row(2375),), Risk.HIGH, now, "Docker API alert", "")
    center.on_polled(poll([row(8001), row(8002), row(2375)], [none, medium, high]))
    assert center.banner.alerts() == [high, medium, none]
    assert notifier.shown == [high, medium, none]
    assert tray.icon.toolTip().splitlines()[1] == "Worst: high risk: Docker API alert"
    center.banner.remove(high)
    assert tray.icon.toolTip().splitlines()[1] == "Worst: medium risk: medium alert"


def test_alerts_from_the_worker_thread_arrive(center_parts, qtbot, worker_thread):
    center, _window, notifier, _tray, _memory = center_parts
    alert = alert_for(row(8000))
    emitted_in: list[int] = []

    def emit_in_worker_thread() -> None:
        emitted_in.append(threading.get_ident())
        worker_thread.polled.emit(poll([row(8000)], [alert]))

    with qtbot.waitSignal(center.banner.count_changed, timeout=2000):
        QTimer.singleShot(0, worker_thread, emit_in_worker_thread)
    assert emitted_in and emitted_in[0] != threading.get_ident()
    assert notifier.shown == [alert]


def test_no_desktop_notification_when_turned_off(qtbot, worker_thread):
    window = FakeWindow()
    qtbot.addWidget(window)
    notifier = NullNotifier()
    center = AlertCenter(window, worker_thread, Settings(notifications=False),
                         notifier=notifier)
    alert = alert_for(row(8000))
    center.on_polled(poll([row(8000)], [alert]))
    assert notifier.shown == []
    assert center.banner.alerts() == [alert]


def test_clicking_a_notification_selects_the_listener(center_parts):
    _center, window, notifier, _tray, _memory = center_parts
    key = row(8000).key
    notifier.activated.emit(key)
    assert window.selected == [key]


def test_show_button_selects_the_listener(center_parts):
    center, window, _notifier, _tray, _memory = center_parts
    alert = alert_for(row(8123))
    center.raise_alert(alert)
    center.banner.item(0).show_button.click()
    assert window.selected == [alert.listeners[0].key]


def test_acknowledge_runs_in_the_worker_thread(center_parts, qtbot):
    center, _window, _notifier, tray, memory = center_parts
    alert = alert_for(row(8000), row(8001))
    center.raise_alert(alert)
    relay = Recorder()  # the signal comes from the worker's thread
    center.acknowledger.acknowledged.connect(relay.record)
    with qtbot.waitSignal(relay.recorded, timeout=2000):
        center.banner.item(0).ack_button.click()
    assert memory.acknowledged() == {identity(r) for r in alert.listeners}
    assert len(memory.ack_threads) == 2
    assert threading.get_ident() not in memory.ack_threads
    assert center.banner.count() == 0
    assert tray.state is TrayState.WATCHING


def test_tray_acknowledge_all_and_pause(center_parts, qtbot):
    center, window, _notifier, tray, memory = center_parts
    for port in (1, 2):
        center.raise_alert(alert_for(row(port)))
    assert tray.alert_count == 2
    relay = Recorder()  # the signal comes from the worker's thread
    center.acknowledger.acknowledged.connect(relay.record)
    with qtbot.waitSignal(relay.recorded, timeout=2000):
        tray.acknowledge_all_requested.emit()
    qtbot.waitUntil(lambda: len(memory.acknowledged()) == 2, timeout=2000)
    assert tray.alert_count == 0
    tray.pause_requested.emit(True)
    assert window.pause_action.isChecked()
    assert tray.state is TrayState.PAUSED
    window.pause_action.setChecked(False)
    assert not tray.paused


def test_a_failed_acknowledgement_is_reported(qtbot, worker_thread):
    class BrokenRules:
        def acknowledge(self, row):
            raise OSError("database is locked")

    window = FakeWindow()
    qtbot.addWidget(window)
    center = AlertCenter(window, worker_thread, Settings(), rules=BrokenRules())
    center.raise_alert(alert_for(row(8000)))
    relay = Recorder()  # the signal comes from the worker's thread
    center.acknowledger.failed.connect(relay.record)
    with qtbot.waitSignal(relay.recorded, timeout=2000):
        center.banner.item(0).ack_button.click()
    qtbot.waitUntil(lambda: bool(window.messages), timeout=1000)
    assert "not saved" in window.messages[0]


def test_memory_follows_the_monitors_history_store():
    from types import SimpleNamespace

    from portwatch.gui.alerts.alerting import MonitorAlertMemory

    monitor = SimpleNamespace(history=None)
    memory = MonitorAlertMemory(monitor)
    memory.remember([identity(row(1))])
    assert memory.has_baseline()  # the in-run fallback
    store = InMemoryAlertMemory()  # stands in for the SQLite HistoryStore
    monitor.history = store
    assert not memory.has_baseline()
    memory.acknowledge(identity(row(2)))
    assert store.acknowledged() == {identity(row(2))}
    monitor.history = object()  # an event sink without alert memory: the fallback again
    assert memory.has_baseline()


def test_install_alerting_without_a_tray(qapp, qtbot, worker_thread, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from portwatch.core.monitor import Monitor
    from portwatch.gui.alerts.alerting import install_alerting

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    window = FakeWindow()
    qtbot.addWidget(window)
    monitor = Monitor(lambda: Snapshot(time.time(), ()))
    gui = SimpleNamespace(monitor=monitor, worker=worker_thread, window=window)
    center = install_alerting(qapp, gui, Settings(alert_min_polls=3))
    try:
        assert isinstance(monitor.alert_rules, AlertRules)
        assert monitor.alert_rules.min_polls == 3
        assert center.tray is None  # offscreen: never a system tray
        assert isinstance(center.notifier, NullNotifier)
        assert qapp.quitOnLastWindowClosed()  # without a tray, closing the window quits
        center.set_settings(Settings(alert_min_polls=5))
        qtbot.waitUntil(lambda: monitor.alert_rules.min_polls == 5, timeout=2000)
    finally:
        center.deleteLater()


def test_a_burst_of_alerts_is_folded_into_one_notification(center_parts, qtbot, monkeypatch):
    from portwatch.gui.alerts import alerting

    monkeypatch.setattr(alerting, "BURST_WINDOW", 0.3)
    center, _window, notifier, _tray, _memory = center_parts
    alerts = [alert_for(row(port), risk=Risk.HIGH if port == 7 else Risk.LOW)
              for port in range(1, 9)]
    for alert in alerts:
        center.raise_alert(alert)
    assert notifier.shown == alerts[:alerting.BURST]
    assert center.banner.count() == 8  # the window lists every alert at once
    qtbot.waitUntil(lambda: len(notifier.shown) == alerting.BURST + 1, timeout=2000)
    more = notifier.shown[-1]
    assert more.kind is AlertKind.SUMMARY
    assert more.title == "3 more new-listener alerts"
    assert more.risk is Risk.HIGH
    assert more.body.splitlines()[0] == alerts[6].title  # the riskiest first
    assert more.listeners[0] == alerts[6].listeners[0]
    qtbot.wait(400)  # the window has passed: the next alert is told on its own
    center.raise_alert(alert_for(row(99)))
    assert notifier.shown[-1].listeners[0].listener.port == 99


def test_acknowledging_writes_the_sqlite_memory_in_its_own_thread(qtbot, worker_thread,
                                                                   tmp_path):
    """The history store's sqlite3 connection refuses other threads: acknowledging from the
    banner must reach it in the worker's thread, and survive a restart."""
    from types import SimpleNamespace

    from portwatch.core.store.history import HistoryStore
    from portwatch.gui.alerts.alerting import MonitorAlertMemory

    path = tmp_path / "history.sqlite3"
    monitor = SimpleNamespace(history=None)

    def open_in_worker() -> None:
        monitor.history = HistoryStore(path)

    QTimer.singleShot(0, worker_thread, open_in_worker)
    qtbot.waitUntil(lambda: monitor.history is not None, timeout=5000)
    window = FakeWindow()
    qtbot.addWidget(window)
    center = AlertCenter(window, worker_thread, Settings(),
                         rules=AlertRules(MonitorAlertMemory(monitor)))
    alert = alert_for(row(8000))
    center.raise_alert(alert)
    relay = Recorder()  # the signal comes from the worker's thread
    center.acknowledger.acknowledged.connect(relay.record)
    with qtbot.waitSignal(relay.recorded, timeout=5000):
        center.banner.item(0).ack_button.click()
    assert window.messages == []  # no "not saved" failure

    closed: list[bool] = []
    QTimer.singleShot(0, worker_thread, lambda: (monitor.history.close(), closed.append(True)))
    qtbot.waitUntil(lambda: closed == [True], timeout=5000)
    with HistoryStore(path) as again:
        assert again.acknowledged() == {identity(alert.listeners[0])}
