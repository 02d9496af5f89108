"""Notifier unit tests: the Notify call's arguments (escaping, urgency, actions), the backend
choice and the fallback, without a notification server (tests/e2e/test_notify_dbus.py talks to
a real dunst on a private bus)."""

from __future__ import annotations

import time

import pytest
from jeepney import DBusAddress, new_error, new_method_call, new_method_return
from jeepney.low_level import Parser
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

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
from portwatch.gui.notify import bus, desktop, freedesktop
from portwatch.gui.notify.notifier import NullNotifier, TrayNotifier

HOSTILE = "<img src=x>"


def make_alert(risk: Risk = Risk.LOW, name: str = "python3", port: int = 8000) -> Alert:
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(4242, name))
    return Alert(AlertKind.OPENED, (AnnotatedListener(sock),), risk, time.time(),
                 f"New listener: port {port}/tcp ({name})",
                 f"{name} (pid 4242) on tcp 127.0.0.1:{port} — loopback only & friends")


def test_body_is_escaped_for_the_spec_markup():
    assert freedesktop.notification_body(f"{HOSTILE} & <b>x</b>") == (
        "&lt;img src=x&gt; &amp; &lt;b&gt;x&lt;/b&gt;")
    assert freedesktop.notification_body('quotes "stay" \'as is\'') == 'quotes "stay" \'as is\''


@pytest.mark.parametrize(("risk", "urgency"), [
    (Risk.HIGH, 2), (Risk.MEDIUM, 1), (Risk.LOW, 1), (Risk.NONE, 1)])
def test_urgency_is_critical_only_for_high_risk(risk, urgency):
    args = freedesktop.notify_arguments(make_alert(risk), frozenset({"body"}), "icon")
    assert args[6]["urgency"] == ("y", urgency)


def test_notify_arguments_follow_the_spec():
    alert = make_alert(Risk.HIGH, HOSTILE)
    app_name, replaces, icon, summary, body, actions, hints, timeout = freedesktop.notify_arguments(
        alert, frozenset({"actions", "body"}), "/path/icon.png")
    assert (app_name, replaces, icon, timeout) == ("portwatch", 0, "/path/icon.png", -1)
    assert summary == alert.title  # the summary is plain text by the spec
    assert "&lt;img src=x&gt;" in body and HOSTILE not in body
    assert actions == ["default", "Show"]
    assert hints["desktop-entry"] == ("s", "io.github.portwatch.portwatch")


def test_no_actions_when_the_server_has_none():
    args = freedesktop.notify_arguments(make_alert(), frozenset({"body", "body-markup"}), "i")
    assert args[5] == []


def test_the_call_serialises_with_the_notify_signature():
    """QDBusInterface once sent the wrong types; check what jeepney puts on the wire."""
    args = freedesktop.notify_arguments(make_alert(Risk.HIGH, HOSTILE), frozenset({"actions"}), "i")
    address = DBusAddress(bus.OBJECT_PATH, bus_name=bus.BUS_NAME,
                          interface=bus.INTERFACE)
    wire = new_method_call(address, "Notify", "susssasa{sv}i", args).serialise(serial=7)
    parser = Parser()
    parser.add_data(wire)
    message = parser.get_next_message()
    assert message.body[3] == args[3]
    assert message.body[6]["urgency"] == ("y", 2)
    assert message.body[7] == -1


def test_icon_is_the_theme_name_when_installed(tmp_path):
    folder = tmp_path / "icons" / "hicolor" / "48x48" / "apps"
    folder.mkdir(parents=True)
    (folder / "io.github.portwatch.portwatch.png").write_bytes(b"png")
    assert freedesktop.notification_icon([str(tmp_path)]) == "io.github.portwatch.portwatch"


def test_icon_is_the_shipped_file_in_a_checkout(tmp_path):
    icon = freedesktop.notification_icon([str(tmp_path)])
    assert icon.endswith("io.github.portwatch.portwatch.png")
    assert icon.startswith("/")


class FakeTrayIcon(QObject):
    messageClicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple] = []

    def showMessage(self, *args) -> None:
        self.messages.append(args)


def test_tray_messages_pass_text_as_is_and_clicks_show_the_last_alert(qapp, qtbot):
    """Qt shows tray messages as plain text everywhere (its X11 balloon too)."""
    icon = FakeTrayIcon()
    chosen = TrayNotifier(icon)
    alert = make_alert(Risk.HIGH, HOSTILE, port=8124)
    assert chosen.notify(alert) == 1
    title, body, kind, _msecs = icon.messages[0]
    assert (title, body) == (alert.title, alert.body)
    assert kind == QSystemTrayIcon.MessageIcon.Critical
    with qtbot.waitSignal(chosen.activated, timeout=500) as blocker:
        icon.messageClicked.emit()
    assert blocker.args == [alert.listeners[0].key]


def test_pick_without_a_session_bus_falls_back_to_null(qapp, monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    chosen = desktop.pick(None)
    assert isinstance(chosen, NullNotifier)
    assert chosen.supports_actions is False


def test_pick_on_macos_and_windows_never_uses_dbus(qapp, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("D-Bus was tried")

    monkeypatch.setattr(desktop, "connect_dbus", refuse)
    assert isinstance(desktop.pick(None, platform="darwin"), NullNotifier)
    assert isinstance(desktop.pick(None, platform="win32"), NullNotifier)


def test_null_notifier_records_alerts(qapp):
    chosen = NullNotifier()
    alert = make_alert()
    assert chosen.notify(alert) == 0
    assert chosen.shown == [alert]


class FakeLink:
    """A BusLink stand-in that answers each call with a prepared reply."""

    def __init__(self, answer):
        self.answer = answer  # callable(message) -> reply or None
        self.sent = []
        self.connected = True

    def call(self, message, on_reply=None, timeout_ms=0):
        self.sent.append(message)
        if on_reply is not None:
            on_reply(self.answer(message))
        return True

    def setParent(self, parent):
        pass

    class _Lost:
        def connect(self, slot):
            pass

    lost = _Lost()


def _member(message):
    from jeepney import HeaderFields

    return message.header.fields[HeaderFields.member]


def test_a_refused_notification_goes_to_the_fallback(qapp):
    def answer(message):
        if _member(message) == "Notify":
            return new_error(message, "org.freedesktop.DBus.Error.ServiceUnknown",
                             "s", ("no server",))
        return new_method_return(message)

    fallback = NullNotifier()
    notifier = freedesktop.DBusNotifier(FakeLink(answer), frozenset({"actions"}), fallback=fallback,
                                        icon="i")
    alert = make_alert()
    notifier.notify(alert)
    assert fallback.shown == [alert]


def test_an_unanswered_notification_goes_to_the_fallback(qapp):
    fallback = NullNotifier()
    notifier = freedesktop.DBusNotifier(FakeLink(lambda message: None), frozenset(),
                                        fallback=fallback, icon="i")
    notifier.notify(make_alert())
    assert len(fallback.shown) == 1


def test_action_invoked_carries_the_listener_key(qapp, qtbot):
    from jeepney import new_signal

    def answer(message):
        if _member(message) == "Notify":
            return new_method_return(message, "u", (77,))
        return new_method_return(message)

    notifier = freedesktop.DBusNotifier(FakeLink(answer), frozenset({"actions"}), icon="i")
    alert = make_alert(port=8123)
    our_id = notifier.notify(alert)
    assert notifier.server_id(our_id) == 77
    emitter = DBusAddress(bus.OBJECT_PATH, interface=bus.INTERFACE)
    with qtbot.waitSignal(notifier.activated, timeout=1000) as blocker:
        notifier._signal(new_signal(emitter, "ActionInvoked", "us", (77, "default")))
    assert blocker.args == [alert.listeners[0].key]
    # Another program's notification id is not ours: nothing happens.
    with qtbot.assertNotEmitted(notifier.activated):
        notifier._signal(new_signal(emitter, "ActionInvoked", "us", (78, "default")))
    # Once closed, a late action for it is ignored too.
    notifier._signal(new_signal(emitter, "NotificationClosed", "uu", (77, 2)))
    with qtbot.assertNotEmitted(notifier.activated):
        notifier._signal(new_signal(emitter, "ActionInvoked", "us", (77, "default")))


def test_lost_connection_reconnects_or_falls_back(qapp):
    fallback = NullNotifier()
    notifier = freedesktop.DBusNotifier(None, frozenset(), fallback=fallback, icon="i",
                                        reconnect=lambda on_signal: None)
    notifier.notify(make_alert())
    assert len(fallback.shown) == 1
