"""DBusNotifier against a real notification server: dunst on a private D-Bus session bus.

What arrived is read back from dunst (`dunstctl history`) and from the bus itself
(`dbus-monitor`, which shows the argument types: the urgency hint must be a byte)."""

from __future__ import annotations

import subprocess
import time

import pytest
from desktop import MIN_DEADLINE
from PySide6.QtCore import QCoreApplication

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
from portwatch.gui.notify import desktop, freedesktop
from portwatch.gui.notify.notifier import NullNotifier

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x>"


def make_alert(risk: Risk = Risk.LOW, name: str = "python3", port: int = 8000) -> Alert:
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(4242, name))
    return Alert(AlertKind.OPENED, (AnnotatedListener(sock),), risk, time.time(),
                 f"New listener: port {port}/tcp ({name})",
                 f"{name} (pid 4242) on tcp 127.0.0.1:{port} — loopback only")


def spin(qtbot, condition, timeout: float = MIN_DEADLINE) -> None:
    """Run the event loop until `condition()` or fail (the deadline only bounds a failure)."""
    qtbot.waitUntil(condition, timeout=int(max(timeout, MIN_DEADLINE) * 1000))


@pytest.fixture
def on_bus(desktop_session, monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desktop_session.bus_address)
    return desktop_session


@pytest.fixture
def bus_monitor(on_bus, tmp_path):
    """dbus-monitor's view of Notify calls, as text (started and ended by PID here)."""
    out = tmp_path / "monitor.txt"
    with out.open("wb") as handle:
        proc = subprocess.Popen(
            ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
            stdout=handle, stderr=subprocess.STDOUT, env=on_bus.env)
    time.sleep(0.3)  # let it subscribe
    yield lambda: out.read_text(errors="replace")
    proc.terminate()
    proc.wait(5)


def test_pick_finds_dunst_and_its_actions(qapp, on_bus):
    chosen = desktop.pick(None)
    try:
        assert isinstance(chosen, freedesktop.DBusNotifier)
        assert "actions" in chosen.capabilities
        assert chosen.supports_actions
    finally:
        chosen.close()


def test_hostile_name_arrives_escaped_and_high_risk_is_critical(qapp, qtbot, on_bus,
                                                                bus_monitor):
    chosen = desktop.pick(None)
    try:
        alert = make_alert(Risk.HIGH, HOSTILE, port=8443)
        our_id = chosen.notify(alert)
        # Sent, not waited for: the server's answer is read by the event loop, which has not
        # run since the call, so the server's id for it cannot be known yet.
        assert chosen.server_id(our_id) is None
        spin(qtbot, lambda: chosen.server_id(our_id) is not None)
        shown = [item for item in on_bus.notification_history()
                 if item.get("id") == chosen.server_id(our_id)]
        assert shown, on_bus.notification_history()
        item = shown[0]
        assert item["appname"] == "portwatch"
        assert item["summary"] == alert.title
        assert item["body"].startswith("&lt;img src=x&gt; (pid 4242)")
        # dunst's rendered markup keeps the name as text, not an [image]
        assert "[image]" not in item["message"]
        assert "&lt;img src=x&gt;" in item["message"]
        spin(qtbot, lambda: 'string "urgency"' in bus_monitor())
        monitor = bus_monitor()
        urgency = monitor[monitor.index('string "urgency"'):][:80]
        assert "variant" in urgency and "byte 2" in urgency
        assert 'string "default"' in monitor and 'string "Show"' in monitor
    finally:
        chosen.close()


def test_normal_risk_is_normal_urgency(qapp, qtbot, on_bus, bus_monitor):
    chosen = desktop.pick(None)
    try:
        our_id = chosen.notify(make_alert(Risk.MEDIUM, port=8080))
        spin(qtbot, lambda: chosen.server_id(our_id) is not None)
        spin(qtbot, lambda: 'string "urgency"' in bus_monitor())
        monitor = bus_monitor()
        assert "byte 1" in monitor[monitor.index('string "urgency"'):][:80]
    finally:
        chosen.close()


def test_clicking_the_notification_activates_its_listener(qapp, qtbot, on_bus):
    chosen = desktop.pick(None)
    try:
        on_bus.notification_history()  # closes whatever earlier tests left displayed
        alert = make_alert(port=8765)
        our_id = chosen.notify(alert)
        spin(qtbot, lambda: chosen.server_id(our_id) is not None)
        with qtbot.waitSignal(chosen.activated, timeout=3000) as blocker:
            # dunstctl action 0: the default action of the newest notification on screen
            subprocess.run(["dunstctl", "action", "0"], env=on_bus.env, check=True, timeout=5)
        assert blocker.args == [alert.listeners[0].key]
    finally:
        chosen.close()


def test_without_a_notification_server_pick_falls_back(qapp, desktop_factory, monkeypatch):
    session = desktop_factory(notifications=False, tray=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.bus_address)
    started = time.monotonic()
    chosen = desktop.pick(None)
    # pick() asks the bus with a short timeout of its own; D-Bus's default (25 s) would freeze
    # the window's start. A bound between the two, generous for a loaded machine.
    assert time.monotonic() - started < 15
    assert isinstance(chosen, NullNotifier)


def test_server_gone_after_start_uses_the_fallback_then_comes_back(qapp, qtbot,
                                                                    desktop_factory,
                                                                    monkeypatch):
    session = desktop_factory(tray=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.bus_address)
    fallback = NullNotifier()
    chosen = freedesktop.connect_dbus(fallback)
    assert chosen is not None
    try:
        session.stop_dunst()
        chosen.notify(make_alert(port=9001))
        spin(qtbot, lambda: len(fallback.shown) == 1)
        session.start_dunst()
        our_id = chosen.notify(make_alert(port=9002))
        spin(qtbot, lambda: chosen.server_id(our_id) is not None)
        assert len(fallback.shown) == 1
    finally:
        chosen.close()
        QCoreApplication.processEvents()
