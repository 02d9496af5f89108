"""Small things a new user met in the window, each with the test that would have caught it: the
count beside the filters (what it counts, and that it is never cut), Open containing folder
without a file manager, a second launch in a terminal, the sort arrows, and Help's shortcuts
and manual."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QApplication, QMessageBox

from portwatch.core.store.settings import Settings
from portwatch.gui.desktop.folder_opener import FolderOpener
from portwatch.gui.desktop.single_instance import SingleInstance
from portwatch.gui.models.listener_model import Column, RowState
from portwatch.gui.views.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(win)
    yield win
    win.shutdown()


def shown_window(qtbot, window):
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    return window


def test_the_count_leaves_out_rows_fading_after_their_listener_closed(window):
    scripted = ScriptedMonitor()
    window.apply_poll(scripted.poll([listener(22), listener(80), listener(8080)]))
    assert window.filter_bar.count.text() == "3 shown"
    window.apply_poll(scripted.poll([listener(22)]))  # two closed: red for a few seconds
    assert window.proxy.rowCount() == 3  # still in the table, fading
    assert [window.model.state_at(r) for r in window.model.closing_rows()] == [RowState.CLOSING] * 2
    assert window.filter_bar.count.text() == "1 shown"
    window.filter_bar.search.setText("server")  # every row matches: still one open
    assert window.filter_bar.count.text() == "1 shown"
    window.filter_bar.udp.setChecked(False)
    window.filter_bar.tcp.setChecked(False)
    assert window.filter_bar.count.text() == "0 of 1 shown"


def test_the_count_is_never_cut_at_1280_px_with_every_filter_shown(qtbot, window):
    """At 1280 px with the Alerts dock open, a remote host to choose and a five-digit count,
    the row of filters was wider than the window: "N shown" was cut at the right edge (the
    window could not be as narrow as asked). Now the toggles' texts give way, never the
    count."""
    window.resize(1280, 780)
    shown_window(qtbot, window)
    window.alert_dock.show()
    bar = window.filter_bar
    bar.set_hosts(("admin@build-server-07.example.org",))
    bar.show_count(12345, 22001)
    qtbot.waitUntil(lambda: bar.machine.isVisible() and window.alert_dock.isVisible())
    QApplication.processEvents()
    assert window.width() == 1280
    count = bar.count
    full = count.fontMetrics().horizontalAdvance(count.text())
    assert count.text() == "12345 of 22001 shown"
    assert count.visibleRegion().boundingRect().width() >= full
    assert count.width() >= full
    right = count.mapTo(window, count.rect().topRight()).x()
    assert right < window.width()
    assert right < window.alert_dock.geometry().left()  # not under the dock either
    # the toggles gave way, keeping their whole text for screen readers
    toggle = bar.network_only
    assert toggle.width() < toggle.sizeHint().width()
    assert toggle.text() == "Reachable from the network only"


def _file_manager_installed() -> bool:
    if shutil.which("xdg-mime") is None:
        return False
    found = subprocess.run(["xdg-mime", "query", "default", "inode/directory"],
                           capture_output=True, text=True, timeout=30)
    return bool(found.stdout.strip())


def test_open_folder_without_a_file_manager_tells_the_user(qtbot, window, tmp_path):
    """The real xdg-open, on a system with no program for folders, exits 3 a moment after it
    started; QDesktopServices only said whether it started, so the user saw nothing."""
    if shutil.which("xdg-open") is None:
        pytest.skip("xdg-open (xdg-utils) is not installed")
    if _file_manager_installed():
        pytest.skip("a file manager is installed here: the test would open a window")
    window.apply_poll(ScriptedMonitor().poll([listener(22, exe=str(tmp_path / "sshd"))]))
    window.table.selectRow(0)
    with qtbot.waitSignal(window.details.folder_opener.failed, timeout=30_000) as failed:
        window.details.folder_button.click()
    folder, reason = failed.args
    assert folder == str(tmp_path)
    assert "no file manager" in reason or "failed" in reason
    box = window.details.findChild(QMessageBox, "folderFailedBox")
    assert box is not None and box.isVisible()
    assert str(tmp_path) in box.text() + box.informativeText()
    box.close()


def test_a_missing_opener_program_is_reported_too(qtbot, tmp_path):
    opener = FolderOpener(program=str(tmp_path / "pwtest-no-such-program"))
    with qtbot.waitSignal(opener.failed, timeout=30_000) as failed:
        opener.open_url(QUrl.fromLocalFile(str(tmp_path)))
    assert "could not be started" in failed.args[1]


def test_a_second_launch_says_in_the_terminal_that_it_raised_the_window(qtbot, tmp_path,
                                                                         monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    first = SingleInstance()
    assert first.claim()
    try:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        with qtbot.waitSignal(first.activation_requested, timeout=30_000):
            second = subprocess.Popen([sys.executable, "-m", "portwatch"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=30_000)
        _out, err = second.communicate()
    finally:
        first.close()
    assert second.returncode == 0
    assert f"portwatch is already running (pid {os.getpid()}); its window was brought" \
           " forward" in err


def test_port_ascending_and_risk_highest_first_show_the_same_arrow(qtbot, window):
    scripted = ScriptedMonitor()
    window.apply_poll(scripted.poll([listener(8080), listener(22, address="0.0.0.0"),
                                     listener(3389, address="0.0.0.0"), listener(80)]))
    shown_window(qtbot, window)
    header = window.table.horizontalHeader()
    assert header.sortIndicatorSection() == Column.RISK
    risk_order = header.sortIndicatorOrder()
    risks = [item.assessment.risk.rank for item in window.shown_listeners()[0]]
    assert risks == sorted(risks, reverse=True) and risks[0] > risks[-1]  # highest first
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=header.viewport().mapFromParent(
                         header.rect().topLeft()) + _section_centre(header, Column.PORT))
    assert header.sortIndicatorSection() == Column.PORT
    ports = [item.listener.port for item in window.shown_listeners()[0]]
    assert ports == sorted(ports)  # lowest first
    assert header.sortIndicatorOrder() == risk_order  # so the arrows agree


def _section_centre(header, section):
    from PySide6.QtCore import QPoint

    return QPoint(header.sectionViewportPosition(section) + header.sectionSize(section) // 2,
                  header.height() // 2)


def test_help_has_keyboard_shortcuts_and_a_manual(qtbot, window):
    shown_window(qtbot, window)
    titles = [a.text() for a in window.help_menu.actions()]
    assert titles[:2] == ["&Manual", "&Keyboard shortcuts"]
    qtbot.keyClick(window.table, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "shortcuts" in window.help_dialogs, timeout=5000)
    shortcuts = window.help_dialogs["shortcuts"]
    assert shortcuts.isVisible()
    text = shortcuts.view.toPlainText()
    for words in ("Ctrl+F", "View > Filter", "Ctrl+L", "Tools > Look up a port", "F5",
                  "Shift+F10"):
        assert words in text
    shortcuts.close()
    shown_window(qtbot, window)
    qtbot.keyClick(window.table, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: "manual" in window.help_dialogs, timeout=5000)
    manual = window.help_dialogs["manual"].view.toPlainText()
    assert "Risk" in manual and "never a colour alone" in manual


def test_shift_f10_opens_the_menu_of_the_selected_row(qtbot, window):
    window.apply_poll(ScriptedMonitor().poll([listener(port) for port in (22, 80, 8080, 3389)]))
    shown_window(qtbot, window)
    window.table.selectRow(2)
    window.table.setFocus()
    wanted = window.selected_item()
    opened = []

    class Menu:  # stands in for the QMenu so that exec() does not block the test
        def exec(self, _point):
            opened.append(True)

        def deleteLater(self):
            pass

    window.context_menu = lambda row: opened.append(row) or Menu()
    qtbot.keyClick(window.table, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=5000)
    assert opened[0] is wanted
