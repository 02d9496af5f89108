"""Main window parts fed with scripted polls: status bar, select_listener and the extension
points, menus, lookup and preferences dialogs, copy/open-folder actions, Qt log routing, and
what started a listener (the Started by column and details, the other-namespaces filter)."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys

import pytest
import yaml
from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtCore import QObject, Qt, QTimer, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QWidget

from portwatch.core.model import AnnotatedListener, CatalogEntry, ContainerInfo, KnownUse, Proto
from portwatch.core.monitor import Monitor
from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES, HIDDEN_NO_PROCESS
from portwatch.core.store.settings import Settings, load_settings
from portwatch.gui.app import PortwatchGui, qt_message_handler, window_icon
from portwatch.gui.models.filter_proxy import ListenerFilter
from portwatch.gui.models.listener_model import ROW_ROLE, Column
from portwatch.gui.views import report
from portwatch.gui.views.lookup_dialog import LookupDialog
from portwatch.gui.views.main_window import MainWindow
from portwatch.gui.views.preferences import PreferencesDialog
from portwatch.gui.views.status import hidden_summary


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(win)
    yield win
    win.shutdown()


@pytest.fixture
def scripted():
    return ScriptedMonitor()


def test_title_menus_and_tabs(window):
    assert window.windowTitle() == "portwatch"
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Tools", "Help"]
    texts = {a.text().replace("&", "") for m in (window.file_menu, window.view_menu,
                                                  window.tools_menu, window.help_menu)
             for a in m.actions()}
    assert {"Quit", "Refresh now", "Look up a port…", "Preferences…",
            "About portwatch"} <= texts
    assert window.tabs.tabText(0) == "Listeners"


def test_refresh_action_asks_for_a_poll(qtbot, window):
    with qtbot.waitSignal(window.refresh_requested, timeout=1000):
        window.refresh_action.trigger()
    with qtbot.waitSignal(window.pause_requested, timeout=1000) as paused:
        window.pause_action.trigger()
    assert paused.args == [True]
    assert not window.status.paused.isHidden()
    window.pause_action.trigger()
    assert window.status.paused.isHidden()


def test_extension_points_for_tabs_and_banner(window):
    history = QWidget()
    assert window.add_tab(history, "History") == 1
    assert window.tabs.tabText(1) == "History"
    banner = QLabel("3 new listeners")
    window.add_banner(banner)
    assert window.alert_dock.isAncestorOf(banner)  # the alert list lives in its dock


def test_status_bar_counts_hidden_owners_and_last_scan(window, scripted):
    hidden = dataclasses.replace(listener(9999, address="0.0.0.0", pid=None),
                                 hidden_reason=HIDDEN_NEEDS_PRIVILEGES)
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0"), listener(80),
                                     listener(53, "udp", address="192.168.1.2"), hidden]))
    assert window.status.counts.text() == "4 listening · 3 reachable from the network"
    assert window.status.hidden.text() == "1 owner hidden: run portwatch with sudo to see it"
    assert not window.status.hidden.isHidden()
    assert window.status.last_scan.text().startswith("last scan ")
    assert window.status.problem.isHidden()
    assert window.filter_bar.count.text() == "4 shown"
    assert hidden_summary(2, HIDDEN_NEEDS_PRIVILEGES) == \
        "2 owners hidden: run portwatch with sudo to see them"


def test_status_bar_shows_failed_and_partial_scans(window, scripted):
    window.show_failure("The scan failed (OSError: boom); portwatch keeps trying.")
    assert "boom" in window.status.problem.text()
    assert not window.status.problem.isHidden()
    assert window.status.last_scan.text().startswith("scan failed at")
    result = dataclasses.replace(scripted.poll([listener(22)]),
                                 problems=("3 processes could not be inspected",))
    window.apply_poll(result)
    assert window.status.problem.text() == \
        "Scan incomplete: 3 processes could not be inspected"
    window.apply_poll(scripted.poll([listener(22)]))
    assert window.status.problem.isHidden()


def test_events_the_history_cannot_take_are_counted_in_the_status_bar(window, scripted,
                                                                       tmp_path):
    """A real history file whose write lock another connection holds (what a full disk does
    for real is in tests/core/test_history_full_disk.py): the status bar counts the events
    not recorded, says once that recording stopped and once that it resumed."""
    import sqlite3

    from portwatch.core.store.history import HistoryStore

    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path, busy_timeout=0.05)
    scripted.monitor.history = store
    try:
        window.apply_poll(scripted.poll([listener(22)]))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        window.apply_poll(scripted.poll([listener(22), listener(80)]))
        window.apply_poll(scripted.poll([listener(22), listener(80), listener(81)]))
        assert window.status.unrecorded.text() == "2 events not recorded in the history"
        assert not window.status.unrecorded.isHidden()
        assert window.statusBar().currentMessage().count("recording stopped") == 1
        holder.execute("ROLLBACK")
        holder.close()
        window.apply_poll(scripted.poll([listener(22), listener(80), listener(81)]))
        assert window.status.unrecorded.isHidden()
        assert "recording resumed" in window.statusBar().currentMessage()
        assert [e.listener.port for e in store.events()][-2:] == [80, 81]
    finally:
        store.close()


def test_startup_problems_reach_the_status_bar(window):
    window.show_problems(["settings.yaml: poll_interval must be a number"])
    assert "poll_interval" in window.statusBar().currentMessage()


def test_select_listener_clears_a_filter_that_hides_the_row(qtbot, window, scripted):
    window.apply_poll(scripted.poll([listener(22), listener(80), listener(53, "udp")]))
    window.filter_bar.set_filter(ListenerFilter(udp=False))
    target = listener(53, "udp").key
    assert window.select_listener(target)
    assert window.proxy.listener_filter == ListenerFilter()
    assert window.selected_item().key == target
    assert window.details.item.key == target
    assert not window.select_listener(listener(4444).key)


def test_first_poll_selects_a_row_and_details_follow_changes(qtbot, window, scripted):
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0"), listener(80)]))
    first = window.selected_item()
    assert first is not None and first.listener.port == 22  # highest risk on top
    assert "regreSSHion" in window.details.view.toPlainText()
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0", user="carol"),
                                     listener(80)]))
    assert window.details.item.listener.process.user == "carol"
    assert "carol" in window.details.view.toPlainText()
    window.apply_poll(scripted.poll([listener(80)]))  # the selected listener closes
    assert window.details.view.toPlainText().splitlines()[0].endswith("— closed")


def test_details_for_a_hidden_owner(qtbot, window, scripted):
    window.apply_poll(scripted.poll([listener(5000, pid=None)]))
    pane = window.details
    assert "run portwatch with sudo" in pane.view.toPlainText()
    assert not pane.terminate_button.isEnabled()
    assert not pane.folder_button.isEnabled()


def test_a_socket_no_process_owns_is_not_said_to_be_a_process():
    """A kernel socket is root's, and no process owns it: the details name the socket's user
    and never "a process of user root" next to "no process owns this socket"."""
    sock = dataclasses.replace(listener(2049, pid=None), socket_user="root",
                               hidden_reason=HIDDEN_NO_PROCESS)
    text = report.to_text(report.listener_report(AnnotatedListener(sock), pending=False))
    assert "Socket user: root (the user the kernel records for the socket)" in text
    assert "no process owns this socket" in text
    assert "a process of user" not in text and "Owner:" not in text


def test_copy_as_text_and_open_folder(qtbot, window, scripted):
    window.apply_poll(scripted.poll([listener(22, address="0.0.0.0",
                                              exe="/opt/ssh/bin/sshd")]))
    pane = window.details
    pane.copy_as_text()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("server on TCP 0.0.0.0:22")
    assert "OpenSSH (sshd)" in copied and "https://www.openssh.com/" in copied
    opened: list[QUrl] = []
    pane.open_url = lambda url: opened.append(url) or True
    pane.folder_button.click()
    assert [u.toLocalFile() for u in opened] == ["/opt/ssh/bin"]


def test_lookup_dialog_from_the_pane_and_the_menu(qtbot, window, scripted):
    window.apply_poll(scripted.poll([listener(22)]))
    window.details.lookup_button.click()
    dialog = window._lookup
    assert dialog is not None and dialog.isVisible()
    assert dialog.port.value() == 22
    text = dialog.view.toPlainText()
    assert "ssh" in text and "OpenSSH (sshd)" in text and "regreSSHion" in text
    dialog.show_port(53, Proto.UDP)
    assert "Domain Name Server" in dialog.view.toPlainText()
    dialog.port.setValue(47999)
    assert "not registered with IANA" in dialog.view.toPlainText()


def test_lookup_dialog_with_the_real_catalog(qtbot):
    from portwatch.core.knowledge.catalog import load_catalog

    dialog = LookupDialog(load_catalog(None))
    qtbot.addWidget(dialog)
    dialog.show_port(3141, "tcp")
    assert "VMODEM" in dialog.view.toPlainText()
    none = LookupDialog(None)
    qtbot.addWidget(none)
    assert "could not be loaded" in none.view.toPlainText()


def test_report_links_only_web_references():
    entry = CatalogEntry(1, Proto.TCP, uses=(
        KnownUse("tool<script>", "note & more", ("https://example.org/a?b=1&c=2",
                                                 "javascript:alert(1)", "file:///etc/passwd")),))
    html = report.to_html(report.entry_report(entry))
    assert 'href="https://example.org/a?b=1&amp;c=2"' in html
    assert "href=\"javascript" not in html and "href=\"file" not in html
    assert "tool&lt;script&gt;" in html and "<script>" not in html
    text = report.to_text(report.entry_report(entry))
    assert "tool<script>: note & more" in text and "javascript:alert(1)" in text


def test_preferences_dialog_edits_a_copy(qtbot):
    dialog = PreferencesDialog(Settings(notifications=False))
    qtbot.addWidget(dialog)
    assert dialog.interval.minimum() == 0.5 and dialog.interval.maximum() == 60
    dialog.interval.setValue(7.5)
    dialog.start_minimised.setChecked(True)
    result = dialog.result_settings()
    assert result == Settings(poll_interval=7.5, start_minimised=True, notifications=False)


def test_changed_settings_are_saved_and_reach_the_worker(qtbot, tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("poll_interval: 2\nsomething_newer: kept\n")
    gui = PortwatchGui(Settings(), Monitor(lambda: ScriptedMonitor()._scan()),
                       FixedCatalog(), settings_path=path)
    qtbot.addWidget(gui.window)
    gui.start(show=False)
    try:
        gui.window.settings_changed.emit(Settings(poll_interval=5.0))
        assert load_settings(path) == (Settings(poll_interval=5.0),
                                       [f"{path}: unknown setting 'something_newer' is ignored"
                                        " (known settings: " + ", ".join(
                                            f.name for f in dataclasses.fields(Settings)) + ")"])
        assert yaml.safe_load(path.read_text())["something_newer"] == "kept"
        qtbot.waitUntil(lambda: gui.worker._timer is not None
                        and gui.worker._timer.interval() == 5000, timeout=3000)
        assert "saved" in gui.window.statusBar().currentMessage()
    finally:
        gui.shutdown()


def test_qt_warnings_go_to_the_portwatch_qt_logger():
    from PySide6.QtCore import qInstallMessageHandler

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("portwatch.qt")
    logger.addHandler(handler)
    previous = qInstallMessageHandler(qt_message_handler)
    try:
        QObject().startTimer(-1)  # Qt warns: timers cannot have a negative interval
    finally:
        qInstallMessageHandler(previous)
        logger.removeHandler(handler)
    assert any("negative" in r.getMessage() and r.levelno == logging.WARNING for r in records)


def test_window_icon_when_the_svg_ships():
    from portwatch.assets import resource_file

    icon = window_icon()
    assert (icon is not None) == resource_file("icons/portwatch.svg").is_file()


def test_plain_text_everywhere_for_labels_in_the_window(window, scripted):
    window.apply_poll(scripted.poll([listener(22, name="<i>evil</i>", user="<b>u</b>")]))
    for label in window.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
    assert "<i>evil</i>" in window.details.view.toPlainText()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_pane_hashes_off_the_gui_thread(qtbot, window, scripted):
    import dataclasses
    import hashlib

    import psutil

    exe = os.path.realpath(sys.executable)
    mine = listener(22, exe=exe, pid=os.getpid())
    mine = dataclasses.replace(mine, process=dataclasses.replace(
        mine.process, create_time=psutil.Process().create_time()))
    window.apply_poll(scripted.poll([mine]))
    pane = window.details
    assert report.COMPUTING in pane.view.toPlainText() or pane._digest is not None
    qtbot.waitUntil(lambda: pane._digest is not None, timeout=10_000)
    # The running image, read through /proc/<pid>/exe: here the same bytes as the file.
    with open(exe, "rb") as handle:
        assert pane._digest.sha256 == hashlib.sha256(handle.read()).hexdigest()
    assert pane._digest.sha256 in pane.view.toPlainText()


def test_run_gui_starts_polls_reports_problems_and_quits_cleanly(qtbot, qapp, isolated_dirs,
                                                                 monkeypatch):
    from portwatch.gui import app as app_module

    config, data = isolated_dirs
    (config / "settings.yaml").write_text("poll_interval: [broken\n")
    started: list[PortwatchGui] = []

    class Recording(PortwatchGui):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(app_module, "PortwatchGui", Recording)
    # Qt 6's quit() closes the windows; closing the last one would then post a second Quit
    # event that ends the next test's event loops. The real program exits, so only tests care.
    qapp.setQuitOnLastWindowClosed(False)
    request_restore = qapp.setQuitOnLastWindowClosed

    visible: list[bool] = []

    def quit_after_a_poll() -> None:
        if started and started[0].window.status.last_scan.text():
            visible.append(started[0].window.isVisible())
            qapp.quit()
        else:
            QTimer.singleShot(100, quit_after_a_poll)

    QTimer.singleShot(100, quit_after_a_poll)
    try:
        assert app_module.run_gui() == 0
    finally:
        request_restore(True)
    gui = started[0]
    assert qapp.applicationName() == "portwatch"
    assert qapp.desktopFileName() == "io.github.portwatch.portwatch"
    assert visible == [True] and gui.window.windowTitle() == "portwatch"
    assert "not valid YAML" in gui.window.statusBar().currentMessage()
    assert not gui.monitor_thread.thread.isRunning()  # stopped and waited for
    assert [gui.window.tabs.tabText(i) for i in range(gui.window.tabs.count())] == \
        ["Listeners", "History"]
    assert (data / "history.sqlite3").exists()  # opened by the worker thread
    assert (config / "settings.yaml").read_text() == "poll_interval: [broken\n"  # untouched
    gui.window.close()


def test_details_mark_likely_uses_and_notes_about_other_software():
    from portwatch.core.model import (
        AnnotatedListener,
        Assessment,
        Risk,
        SecurityNote,
        Severity,
    )

    devpi = KnownUse("devpi-server", "package index", match=("devpi",))
    gate = KnownUse("SurfinGate", "old proxy", match=("surfingate",))
    cve = SecurityNote("SurfinGate CVE", Severity.MEDIUM, "vulnerability", "old bug",
                       applies_to=("surfingate",))
    mydoom = SecurityNote("MyDoom range", Severity.INFO, "malware-history", "2004 worm")
    entry = CatalogEntry(3141, Proto.TCP, "vmodem", "VMODEM", (gate, devpi), (cve, mydoom))
    item = AnnotatedListener(listener(3141, name="devpi-server"), entry,
                             Assessment(Risk.NONE, "devpi-server, the usual software",
                                        (mydoom,)), (devpi,))
    text = report.to_text(report.listener_report(item))
    assert text.index("devpi-server: package index") < text.index("SurfinGate: old proxy")
    assert "matches the listening process" in text
    cve_part = text[text.index("SurfinGate CVE"):text.index("MyDoom range")]
    assert report.CONTEXT_NOTE in cve_part
    assert report.CONTEXT_NOTE not in text[text.index("MyDoom range"):]
    assert "Program" not in text and "Look twice" not in text  # nothing recognised, flagged
    recognised = dataclasses.replace(item, recognised_by="executable",
                                     flags=("name-mismatch",))
    text = report.to_text(report.listener_report(recognised))
    assert "devpi-server, recognised by its executable" in text
    assert "its name is not its executable's" in text


def test_the_shown_count_follows_highlight_removals(qtbot, scripted):
    from portwatch.gui.models.listener_model import ListenerModel

    win = MainWindow(Settings(), FixedCatalog(), model=ListenerModel(highlight_seconds=0.05))
    qtbot.addWidget(win)
    win.apply_poll(scripted.poll([listener(22), listener(80)]))
    win.apply_poll(scripted.poll([listener(22)]))
    assert win.filter_bar.count.text() == "1 shown"  # 80 is closing (red), listed, not counted
    qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=2000)
    qtbot.waitUntil(lambda: win.filter_bar.count.text() == "1 shown", timeout=2000)
    win.filter_bar.set_filter(ListenerFilter(text="nothing"))
    assert win.filter_bar.count.text() == "0 of 1 shown"
    win.shutdown()


# -- what started a listener: the Started by column, the details, other namespaces ----------


def origin_rows():
    service = dataclasses.replace(listener(22, address="0.0.0.0", name="sshd"),
                                  unit="ssh.service")
    inner = dataclasses.replace(listener(80, address="0.0.0.0", name="httpd", pid=300),
                                netns="netns-abc",
                                container=ContainerInfo("podman", "f" * 64, "web", None,
                                                        "httpd"))
    return [service, inner]


def shown_ports(win) -> list[int]:
    proxy = win.table.model()
    return sorted(proxy.index(r, 0).data(ROW_ROLE).listener.port
                  for r in range(proxy.rowCount()))


def test_other_namespaces_are_shown_only_when_asked(window):
    window.apply_poll(ScriptedMonitor().poll(origin_rows()))
    assert shown_ports(window) == [22]  # the host's view by default
    assert window.status.counts.text() == (
        "1 listening · 1 reachable from the network · 1 in other network namespaces")
    window.filter_bar.all_netns.setChecked(True)
    assert shown_ports(window) == [22, 80]
    window.filter_bar.set_filter(ListenerFilter(all_netns=True, text="web"))
    assert shown_ports(window) == [80]  # the container's name is searchable


def test_the_started_by_column_is_hidden_until_chosen(window):
    window.apply_poll(ScriptedMonitor().poll(origin_rows()))
    assert window.table.isColumnHidden(Column.ORIGIN)
    menu = window.columns_menu()
    action = next(a for a in menu.actions() if a.text() == "Started by")
    assert not action.isChecked()
    action.setChecked(True)
    assert not window.table.isColumnHidden(Column.ORIGIN)
    model = window.model
    cells = {model.index(r, Column.PORT).data(): model.index(r, Column.ORIGIN).data()
             for r in range(model.rowCount())}
    assert cells == {"22": "ssh.service", "80": "podman web (httpd) · netns netns-abc"}
    tip = model.index(0, Column.ORIGIN).data(Qt.ItemDataRole.ToolTipRole)
    assert "systemctl" in tip
    menu.deleteLater()


def test_details_say_how_to_stop_the_unit_and_the_container():
    catalog = FixedCatalog()
    service, inner = (catalog.annotate(row) for row in origin_rows())
    text = report.to_text(report.listener_report(service))
    assert "Started by" in text
    assert "systemctl stop ssh.service" in text and "systemctl disable ssh.service" in text
    text = report.to_text(report.listener_report(inner))
    assert "podman stop web" in text and "Answers inside" in text and "httpd" in text
    assert "netns-abc" in text
    activated = catalog.annotate(dataclasses.replace(listener(22, name="systemd", pid=1),
                                                     unit="pwtest-none.socket"))
    text = report.to_text(report.listener_report(activated))
    assert "starts pwtest-none.service on the first connection" in text
    assert "systemctl disable pwtest-none.socket" in text


def test_details_reach_line_says_what_the_firewall_does():
    from portwatch.core.firewall import FirewallVerdict
    from portwatch.core.model import AnnotatedListener

    open_all = AnnotatedListener(listener(6379, address="0.0.0.0"))
    assert "Reach: all interfaces: any network this machine is on can connect" in \
        report.to_text(report.listener_report(open_all))
    verdict = FirewallVerdict("drop", ("eth0",), "table inet filter, chain input, policy drop",
                              "the firewall drops new connections from outside on eth0: "
                              "table inet filter, chain input, policy drop")
    shielded = dataclasses.replace(open_all, firewall=verdict)
    assert ("Reach: all interfaces; the firewall drops new connections from outside on eth0: "
            "table inet filter, chain input, policy drop") in \
        report.to_text(report.listener_report(shielded))
