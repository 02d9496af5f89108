"""Tray icon state, tooltip and menu (offscreen: the icon exists, no tray shows it; the real
tray is checked by tests/e2e)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from portwatch.gui.notify import tray as tray_module
from portwatch.gui.notify.tray import (
    CloseToTray,
    Tray,
    TrayState,
    drawn_icon,
    state_icon,
    tooltip_text,
)


def test_tooltip_counts():
    assert tooltip_text(23, 4, 2, False) == (
        "portwatch — 23 listening, 4 reachable from the network, 2 new alerts")
    assert tooltip_text(23, 4, 1, False).endswith("1 new alert")
    assert tooltip_text(5, 0, 0, False) == "portwatch — 5 listening, 0 reachable from the network"
    assert tooltip_text(5, 0, 0, True).endswith("(paused)")
    assert tooltip_text(None, 0, 0, False) == "portwatch — starting"


def test_the_tooltip_names_the_worst_alert():
    import time

    from portwatch.core.model import Alert, AlertKind, Risk

    worst = Alert(AlertKind.OPENED, (), Risk.HIGH, time.time(), "New listener: port 2375/tcp", "")
    assert tooltip_text(23, 4, 3, False, worst).splitlines() == [
        "portwatch — 23 listening, 4 reachable from the network, 3 new alerts",
        "Worst: high risk: New listener: port 2375/tcp"]
    assert tooltip_text(23, 4, 1, False, worst).endswith("\nhigh risk: New listener: port 2375/tcp")
    assert "\n" not in tooltip_text(23, 4, 0, False, worst)  # dealt with: nothing to name


def test_state_follows_alerts_and_pause(qapp):
    tray = Tray()
    assert tray.state is TrayState.WATCHING
    tray.set_counts(23, 4)
    tray.set_alert_count(2)
    assert tray.state is TrayState.ALERT
    assert tray.icon.toolTip() == (
        "portwatch — 23 listening, 4 reachable from the network, 2 new alerts")
    assert tray.icon.icon().cacheKey() == state_icon(TrayState.ALERT).cacheKey()
    tray.set_paused(True)
    assert tray.state is TrayState.PAUSED
    assert tray.icon.icon().cacheKey() == state_icon(TrayState.PAUSED).cacheKey()
    tray.set_paused(False)
    tray.set_alert_count(0)
    assert tray.state is TrayState.WATCHING
    assert tray.icon.icon().cacheKey() == state_icon(TrayState.WATCHING).cacheKey()


def test_shipped_icons_load_and_differ(qapp):
    icons = [state_icon(state) for state in TrayState]
    assert all(not icon.isNull() for icon in icons)
    images = [icon.pixmap(32, 32).toImage() for icon in icons]
    assert images[0] != images[1] != images[2]


def test_missing_icon_file_is_drawn(qapp, monkeypatch):
    monkeypatch.setitem(tray_module.ICON_FILES, TrayState.PAUSED, "icons/no-such-icon.svg")
    state_icon.cache_clear()
    try:
        icon = state_icon(TrayState.PAUSED)
        assert not icon.isNull()
        assert not icon.pixmap(32, 32).isNull()
    finally:
        state_icon.cache_clear()
    assert not drawn_icon(TrayState.ALERT).isNull()


def test_menu_is_rebuilt_when_about_to_show(qapp, qtbot):
    tray = Tray()
    assert tray.action_texts() == ["Show window", "Pause monitoring", "Acknowledge all", "",
                                   "Quit"]
    ack = tray.menu.actions()[2]
    assert not ack.isEnabled()
    tray.set_alert_count(3)
    tray.set_paused(True)
    tray.menu.aboutToShow.emit()
    assert tray.action_texts() == ["Show window", "Resume monitoring", "Acknowledge all (3)",
                                   "", "Quit"]
    assert tray.menu.actions()[2].isEnabled()


def test_menu_entries_emit_signals(qapp, qtbot):
    tray = Tray()
    tray.set_alert_count(1)
    tray.rebuild_menu()
    with qtbot.waitSignal(tray.show_requested, timeout=500):
        tray.trigger("Show window")
    with qtbot.waitSignal(tray.pause_requested, timeout=500) as paused:
        tray.trigger("Pause monitoring")
    assert paused.args == [True]
    tray.set_paused(True)
    tray.rebuild_menu()
    with qtbot.waitSignal(tray.pause_requested, timeout=500) as resumed:
        tray.trigger("Resume monitoring")
    assert resumed.args == [False]
    with qtbot.waitSignal(tray.acknowledge_all_requested, timeout=500):
        tray.trigger("Acknowledge all")
    with qtbot.waitSignal(tray.quit_requested, timeout=500):
        tray.trigger("Quit")


def test_clicking_the_icon_shows_the_window(qapp, qtbot):
    tray = Tray()
    with qtbot.waitSignal(tray.show_requested, timeout=500):
        tray.icon.activated.emit(tray.icon.ActivationReason.Trigger)
    with qtbot.assertNotEmitted(tray.show_requested):
        tray.icon.activated.emit(tray.icon.ActivationReason.Context)


class FakeTray:
    def __init__(self, visible: bool) -> None:
        self.visible = visible
        self.messages: list[tuple[str, str]] = []

    def is_visible(self) -> bool:
        return self.visible

    def message(self, title: str, text: str) -> None:
        self.messages.append((title, text))


def test_closing_says_once_that_portwatch_keeps_watching(qapp, qtbot, monkeypatch):
    monkeypatch.setattr(Tray, "available", staticmethod(lambda: True))
    window = QWidget()
    qtbot.addWidget(window)
    fake = FakeTray(visible=True)
    watcher = CloseToTray(window, fake)
    watcher.window_closing(by_user=True)
    watcher.window_closing(by_user=True)
    assert len(fake.messages) == 1
    assert "still watching" in fake.messages[0][0]


def test_close_from_quit_is_not_refused_and_says_nothing(qapp, qtbot, monkeypatch):
    monkeypatch.setattr(Tray, "available", staticmethod(lambda: True))
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    fake = FakeTray(visible=True)
    CloseToTray(window, fake)
    assert window.close()  # a programmatic close (what QApplication.quit() sends) goes through
    assert not window.isVisible()
    assert fake.messages == []


def test_closing_without_a_tray_quits(qapp, qtbot, monkeypatch):
    quits: list[bool] = []
    monkeypatch.setattr(tray_module.QApplication, "quit", staticmethod(lambda: quits.append(1)))
    window = QWidget()
    qtbot.addWidget(window)
    watcher = CloseToTray(window, FakeTray(visible=False))
    watcher.window_closing(by_user=True)
    qtbot.waitUntil(lambda: quits == [1], timeout=1000)


def test_keep_running_in_tray_stops_quit_on_last_window(qapp, qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    tray = Tray()
    before = qapp.quitOnLastWindowClosed()
    try:
        watcher = tray_module.keep_running_in_tray(qapp, window, tray)
        assert isinstance(watcher, CloseToTray)
        assert qapp.quitOnLastWindowClosed() is False
    finally:
        qapp.setQuitOnLastWindowClosed(before)
        tray.hide()
