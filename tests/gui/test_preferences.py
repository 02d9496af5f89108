"""Tools > Preferences: a control for every setting, start at login through the real autostart
entry (in a temp XDG_CONFIG_HOME), and OK saves the file and changes the running program: the
worker's interval, the notifications switch and the alert rules in the worker's thread."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from gui_rows import FixedCatalog
from PySide6.QtWidgets import QApplication, QMessageBox

from portwatch.core.desktop import autostart
from portwatch.core.model import Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.store.settings import Settings, load_settings
from portwatch.gui.app import PortwatchGui
from portwatch.gui.style.theme import is_dark
from portwatch.gui.views.main_window import MainWindow
from portwatch.gui.views.preferences import RESTART_NOTE, PreferencesDialog

CHANGED = Settings(poll_interval=7.5, start_minimised=True, start_at_login=True,
                   notifications=False, alert_min_polls=4, alert_ephemeral_udp=True,
                   alert_coalesce=9, alert_rate_limit=120.0, alert_first_remote=True,
                   history_retention_days=30,
                   history_max_mb=64, color_scheme="dark")


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch) -> Path:
    """The autostart entry goes under a temp XDG_CONFIG_HOME, never the real ~/.config."""
    home = tmp_path / "xdg-config"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("FLATPAK_ID", raising=False)
    return home


def entry(config_home: Path) -> Path:
    return config_home / "autostart" / autostart.ENTRY_NAME


def fill(dialog: PreferencesDialog, settings: Settings) -> None:
    """Set every control as a user would."""
    dialog.interval.setValue(settings.poll_interval)
    dialog.start_minimised.setChecked(settings.start_minimised)
    dialog.start_at_login.setChecked(settings.start_at_login)
    dialog.notifications.setChecked(settings.notifications)
    dialog.min_polls.setValue(settings.alert_min_polls)
    dialog.ephemeral_udp.setChecked(settings.alert_ephemeral_udp)
    dialog.coalesce.setValue(settings.alert_coalesce)
    dialog.rate_limit.setValue(settings.alert_rate_limit)
    dialog.first_remote.setChecked(settings.alert_first_remote)
    dialog.retention.setValue(settings.history_retention_days)
    dialog.max_mb.setValue(settings.history_max_mb)
    dialog.color_scheme.setCurrentIndex(dialog.color_scheme.findData(settings.color_scheme))


def test_every_setting_has_a_control(qtbot):
    dialog = PreferencesDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.result_settings() == Settings()  # untouched: nothing changes
    fill(dialog, CHANGED)
    result = dialog.result_settings()
    assert result == CHANGED
    for field in dataclasses.fields(Settings):  # a new setting needs a control too
        if field.name in ("hosts", "hosts_without_alerts"):  # the File menu's host actions
            continue  # (tests/gui/test_host_actions.py, tests/fleet)
        assert getattr(result, field.name) != getattr(Settings(), field.name), field.name


def test_typed_numbers_count_and_get_their_noun(qtbot):
    dialog = PreferencesDialog(Settings())
    qtbot.addWidget(dialog)
    assert (dialog.min_polls.text(), dialog.retention.text()) == ("1 more scan", "90 days")
    for box, typed in ((dialog.min_polls, "7"), (dialog.retention, "365")):
        box.lineEdit().selectAll()
        qtbot.keyClicks(box.lineEdit(), typed)
    result = dialog.result_settings()  # OK right after typing: the typed values count
    assert (result.alert_min_polls, result.history_retention_days) == (7, 365)
    assert (dialog.min_polls.text(), dialog.retention.text()) == ("7 more scans", "365 days")
    dialog.min_polls.setValue(0)
    assert dialog.min_polls.text() == "at once"


def test_the_dialog_shows_the_current_settings_and_says_what_waits_for_a_restart(qtbot):
    dialog = PreferencesDialog(dataclasses.replace(CHANGED, start_at_login=False))
    qtbot.addWidget(dialog)
    assert dialog.result_settings() == dataclasses.replace(CHANGED, start_at_login=False)
    assert dialog.note.text() == RESTART_NOTE
    assert "Start minimised" in RESTART_NOTE and "history limits" in RESTART_NOTE
    assert (dialog.interval.minimum(), dialog.interval.maximum()) == (0.5, 60.0)
    assert (dialog.retention.minimum(), dialog.retention.maximum()) == (1, 3650)


def test_a_coalesce_of_one_in_the_file_is_not_a_change(qtbot):
    dialog = PreferencesDialog(Settings(alert_coalesce=1))
    qtbot.addWidget(dialog)
    assert dialog.coalesce.value() == 2  # what the rules do with 1
    assert dialog.result_settings() == Settings(alert_coalesce=1)


def test_start_at_login_shows_the_autostart_entry_not_the_file(qtbot, config_home):
    autostart.enable_autostart()
    dialog = PreferencesDialog(Settings(start_at_login=False))
    qtbot.addWidget(dialog)
    assert dialog.start_at_login.isChecked()
    entry(config_home).unlink()
    dialog = PreferencesDialog(Settings(start_at_login=True))
    qtbot.addWidget(dialog)
    assert not dialog.start_at_login.isChecked()


def accept(qtbot, window: MainWindow, settings: Settings) -> list[Settings]:
    emitted: list[Settings] = []
    window.settings_changed.connect(emitted.append)
    dialog = window.open_preferences()
    assert window.open_preferences() is dialog  # one dialog at a time
    fill(dialog, settings)
    dialog.accept()
    qtbot.waitUntil(lambda: window._preferences is None, timeout=2000)
    return emitted


def test_ok_writes_and_removes_the_autostart_entry(qtbot, config_home):
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    emitted = accept(qtbot, window, dataclasses.replace(Settings(), start_at_login=True))
    assert autostart.autostart_enabled()
    assert "Exec=" in entry(config_home).read_text()
    assert emitted == [Settings(start_at_login=True)]
    emitted = accept(qtbot, window, Settings())
    assert not entry(config_home).exists()
    assert emitted == [Settings()]


def test_an_autostart_entry_that_cannot_be_written_is_told(qtbot, config_home):
    (config_home / "autostart").write_text("a file where the folder should be")
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    emitted = accept(qtbot, window, Settings(start_at_login=True, poll_interval=3.0))
    boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1 and "could not be changed" in boxes[0].text()
    assert emitted == [Settings(poll_interval=3.0)]  # saved as it really is: off


def test_ok_saves_the_file_and_applies_to_the_running_program(qtbot, tmp_path, monkeypatch):
    from portwatch.gui.alerts.alerting import install_alerting

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    path = tmp_path / "settings.yaml"
    monitor = Monitor(lambda: Snapshot(time.time(), ()), FixedCatalog())
    gui = PortwatchGui(Settings(), monitor, FixedCatalog(), settings_path=path)
    qtbot.addWidget(gui.window)
    center = install_alerting(QApplication.instance(), gui, gui.settings)
    gui.start(show=False)
    try:
        rules = monitor.alert_rules
        worker_thread = gui.monitor_thread.thread
        assert center.acknowledger.thread() is worker_thread  # rules change in that thread
        accept(qtbot, gui.window, dataclasses.replace(CHANGED, start_at_login=False))
        wanted = dataclasses.replace(CHANGED, start_at_login=False)
        assert load_settings(path) == (wanted, [])
        assert gui.settings == wanted and center.settings == wanted
        qtbot.waitUntil(lambda: gui.worker._timer is not None
                        and gui.worker._timer.interval() == 7500, timeout=5000)
        qtbot.waitUntil(lambda: (rules.min_polls, rules.ephemeral_udp, rules.coalesce,
                                 rules.rate_limit) == (4, True, 9, 120.0), timeout=5000)
        assert monitor.alert_rules is rules  # the same object, changed in place
        assert "Preferences saved." in gui.window.statusBar().currentMessage()
        assert is_dark()  # the colour scheme applies at once
    finally:
        gui.scheme.set_choice("light")  # the palette is the application's: put it back
        gui.scheme.set_choice("system")
        gui.shutdown()
        center.deleteLater()
