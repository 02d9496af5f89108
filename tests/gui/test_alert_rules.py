"""Ignore… and Tools > Alert rules…: rules and acknowledgements made or removed in the window reach
the alert memory in the worker's thread, survive a restart in the history file, and change what
alerts; untrusted process names stay plain text in both dialogs."""

from __future__ import annotations

import threading

import pytest
from gui_rows import Recorder, ScriptedMonitor, catalog, listener
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from portwatch.core.alerts.decisions import Decisions, IgnoreScope
from portwatch.core.model import Exposure, IgnoreRule, ListenerIdentity, Proto
from portwatch.core.store.history import HistoryStore, attach_history
from portwatch.core.store.settings import Settings
from portwatch.gui.alerts.alerting import install_alerting
from portwatch.gui.alerts.ignore_dialog import IgnoreDialog
from portwatch.gui.alerts.rules_dialog import AlertRulesDialog
from portwatch.gui.app import PortwatchGui
from portwatch.gui.views.main_window import MainWindow

PYTHON = dict(name="python3", exe="/usr/bin/python3.11")
NGINX = dict(name="nginx", exe="/usr/sbin/nginx")


class Running:
    """The real window, worker thread, history file and alerting, with scripted scans."""

    def __init__(self, qapp, qtbot, path, *listeners) -> None:
        self.qtbot = qtbot
        self.scripted = ScriptedMonitor()
        self.scripted.current = tuple(listeners)
        monitor = self.scripted.monitor
        settings = Settings(poll_interval=60, alert_min_polls=0, notifications=False)

        def setup() -> list[str]:
            return attach_history(monitor, path)

        def teardown() -> None:
            monitor.history.close()

        self.gui = PortwatchGui(settings, monitor, catalog(), setup=setup, teardown=teardown)
        qtbot.addWidget(self.gui.window)
        self.center = install_alerting(qapp, self.gui, settings)
        self.editor = self.center.rules_editor
        self.polls = Recorder()
        self.gui.worker.polled.connect(self.polls.record)
        with qtbot.waitSignal(self.polls.recorded, timeout=5000):
            self.gui.start()

    @property
    def window(self) -> MainWindow:
        return self.gui.window

    def poll(self, *listeners):
        self.scripted.current = tuple(listeners)
        with self.qtbot.waitSignal(self.polls.recorded, timeout=5000) as got:
            self.gui.worker.poll_now()
        return got.args[0]

    def stop(self) -> None:
        self.gui.shutdown()
        self.center.deleteLater()


@pytest.fixture
def no_bus(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")


@pytest.fixture
def stored_in(monkeypatch):
    """The threads in which the history store was asked to change its rules."""
    threads: list[int] = []
    for name in ("add_ignore_rule", "remove_ignore_rule", "acknowledge", "unacknowledge"):
        original = getattr(HistoryStore, name)

        def recording(self, value, _original=original):
            threads.append(threading.get_ident())
            return _original(self, value)

        monkeypatch.setattr(HistoryStore, name, recording)
    return threads


def test_a_rule_from_the_details_is_stored_by_the_worker_and_silences_new_listeners(
        qapp, qtbot, tmp_path, no_bus, stored_in):
    path = tmp_path / "history.sqlite3"
    python = listener(8000, pid=100, **PYTHON)
    app = Running(qapp, qtbot, path, python)
    try:
        assert app.window.alert_rules_action.isEnabled()
        assert app.window.select_listener(python.key)
        app.window.details.ignore_button.click()
        dialog = app.editor.ignore_dialog
        assert isinstance(dialog, IgnoreDialog) and dialog.isVisible()
        assert dialog.sentence.text() == "Never alert when python3 listens on port 8000/tcp."
        dialog.set_scope(IgnoreScope.PROGRAM)
        assert dialog.sentence.text() == "Never alert when python3 listens on any TCP port."
        dialog.proto.setCurrentIndex(dialog.proto.findText("TCP and UDP"))
        assert dialog.sentence.text() == "Never alert when python3 listens on any port."
        with qtbot.waitSignal(app.center.decisions_changed, timeout=5000) as got:
            dialog.ignore_button.click()
        rule = IgnoreRule(process="python3")
        assert got.args[0].ignore_rules == (rule,)
        assert stored_in and threading.get_ident() not in stored_in  # the worker's thread
        assert "Never alert when python3 listens on any port." in \
            app.window.statusBar().currentMessage()

        result = app.poll(python, listener(9000, pid=101, **PYTHON),
                          listener(9001, proto="udp", pid=102, **PYTHON),
                          listener(9002, pid=103, **NGINX))
        assert [[row.listener.port for row in alert.listeners] for alert in result.alerts] \
            == [[9002]]
        assert app.center.banner.count() == 1
    finally:
        app.stop()
    with HistoryStore(path) as store:  # a restart reads it back
        assert store.ignore_rules() == [rule]


def test_the_alert_rules_dialog_lists_and_removes_after_a_restart(qapp, qtbot, tmp_path,
                                                                   no_bus, stored_in):
    path = tmp_path / "history.sqlite3"
    python = listener(8000, pid=100, **PYTHON)
    acked = ListenerIdentity.of(listener(5432, **NGINX))
    rule = IgnoreRule(port_from=7000, port_to=7100, proto=Proto.UDP)
    with HistoryStore(path) as store:  # what an earlier run stored
        store.remember([ListenerIdentity.of(python), acked])
        store.add_ignore_rule(rule)
        store.acknowledge(acked)
    stored_in.clear()

    app = Running(qapp, qtbot, path, python)
    try:
        app.window.alert_rules_action.trigger()
        dialog = app.editor.rules_dialog
        assert isinstance(dialog, AlertRulesDialog)
        qtbot.waitUntil(lambda: dialog.decisions is not None, timeout=5000)
        assert dialog.decisions == Decisions((rule,), (acked,))
        rules, acks = dialog.rules_table, dialog.acks_table
        assert [rules.item(0, c).text() for c in range(3)] == ["any program", "7000–7100", "UDP"]
        assert [acks.item(0, c).text() for c in range(4)] == \
            ["/usr/sbin/nginx", "TCP", "5432", "loopback only"]
        assert not dialog.remove_rule_button.isEnabled()

        rules.selectRow(0)
        assert dialog.remove_rule_button.isEnabled()
        with qtbot.waitSignal(app.center.decisions_changed, timeout=5000) as got:
            dialog.remove_rule_button.click()
        assert got.args[0].ignore_rules == ()
        assert rules.rowCount() == 0 and dialog.rules_empty.isVisibleTo(dialog)

        acks.selectRow(0)
        with qtbot.waitSignal(app.center.decisions_changed, timeout=5000) as got:
            dialog.remove_ack_button.click()
        assert got.args[0] == Decisions()
        assert acks.rowCount() == 0
        assert len(stored_in) == 2 and threading.get_ident() not in stored_in

        # No longer acknowledged nor known: the next time it listens, it alerts.
        result = app.poll(python, listener(5432, **NGINX))
        assert [alert.listeners[0].listener.port for alert in result.alerts] == [5432]
    finally:
        app.stop()
    with HistoryStore(path) as store:
        assert store.ignore_rules() == []
        assert store.acknowledged() == set()


def test_ignore_from_the_banner_and_acknowledge_from_the_table_menu(qapp, qtbot, tmp_path,
                                                                    no_bus):
    python = listener(8000, pid=100, **PYTHON)
    nginx = listener(9002, pid=103, **NGINX)
    app = Running(qapp, qtbot, tmp_path / "history.sqlite3", python)
    try:
        app.poll(python, nginx)
        banner = app.center.banner
        assert banner.count() == 1
        item = banner.item(0)
        assert item.ignore_button.isVisibleTo(item)
        item.ignore_button.click()
        dialog = app.editor.ignore_dialog
        assert dialog.sentence.text() == "Never alert when nginx listens on port 9002/tcp."
        dialog.program.setCurrentIndex(1)  # by its executable
        relay = Recorder()  # the signal comes from the worker's thread
        app.center.acknowledger.rule_added.connect(relay.record)
        with qtbot.waitSignal(relay.recorded, timeout=5000):
            dialog.accept()
        qtbot.waitUntil(lambda: banner.count() == 0, timeout=5000)  # the rule covers it

        menu = app.window.context_menu(app.window.model.item_at(
            app.window.model.row_of(python.key)))
        actions = {action.text(): action for action in menu.actions() if action.text()}
        assert list(actions) == ["Copy as text", "Look up port…", "Open containing folder",
                                 "Acknowledge", "Ignore…", "Terminate process…"]
        assert actions["Acknowledge"].isEnabled() and actions["Ignore…"].isEnabled()
        with qtbot.waitSignal(app.center.decisions_changed, timeout=5000) as got:
            actions["Acknowledge"].trigger()
        assert got.args[0].acknowledged == (ListenerIdentity.of(python),)
        assert got.args[0].ignore_rules == (IgnoreRule("/usr/sbin/nginx", 9002, 9002,
                                                       Proto.TCP),)
        menu.deleteLater()
    finally:
        app.stop()


def test_without_alert_rules_the_entries_are_disabled(qtbot):
    window = MainWindow(Settings(), catalog())
    qtbot.addWidget(window)
    assert not window.alert_rules_action.isEnabled()
    assert not window.details.ignore_button.isEnabled()
    menu = window.context_menu(None)
    states = {action.text(): action.isEnabled() for action in menu.actions() if action.text()}
    assert states["Ignore…"] is False and states["Acknowledge"] is False


def test_a_hidden_owner_can_only_be_ignored_by_port(qtbot):
    hidden = listener(2049, pid=None)
    dialog = IgnoreDialog(catalog().annotate(hidden))
    qtbot.addWidget(dialog)
    assert not dialog.program_port.isEnabled() and not dialog.program_any.isEnabled()
    assert dialog.scope() is IgnoreScope.PORT
    assert dialog.rule() == IgnoreRule(None, 2049, 2049, Proto.TCP)
    dialog.set_scope(IgnoreScope.RANGE)
    dialog.port_from.setValue(3000)
    dialog.port_to.setValue(2000)
    assert dialog.rule() == IgnoreRule(None, 2000, 3000, Proto.TCP)  # either order
    assert dialog.sentence.text() == \
        "Never alert when any program listens on ports 2000–3000/tcp."
    assert "hidden" in dialog.hint.text()


HOSTILE = "<b>bold</b><img src=x>\u202egnp.exe"


def plain_everywhere(widget) -> None:
    for label in widget.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.text()


def test_untrusted_names_are_plain_text_in_both_dialogs(qtbot):
    row = catalog().annotate(listener(8000, name=HOSTILE, exe="/tmp/<i>x</i>"))
    dialog = IgnoreDialog(row)
    qtbot.addWidget(dialog)
    plain_everywhere(dialog)
    shown = "<b>bold</b><img src=x>\\u202egnp.exe"
    assert shown in dialog.about.text()
    assert dialog.sentence.text() == f"Never alert when {shown} listens on port 8000/tcp."
    assert dialog.program.itemText(0).startswith(shown)
    assert dialog.program.itemText(1).startswith("/tmp/<i>x</i>")
    assert dialog.rule().process == HOSTILE  # the rule matches the real name

    rules = AlertRulesDialog()
    qtbot.addWidget(rules)
    rules.show_decisions(Decisions(
        (IgnoreRule(HOSTILE, 8000),),
        (ListenerIdentity("/tmp/<i>x</i>", Proto.TCP, 8000, Exposure.ALL_INTERFACES),)))
    plain_everywhere(rules)
    assert rules.rules_table.item(0, 0).text() == shown
    assert rules.acks_table.item(0, 0).text() == "/tmp/<i>x</i>"
    tip = rules.rules_table.item(0, 0).toolTip()
    assert "&lt;b&gt;bold&lt;/b&gt;&lt;img src=x&gt;" in tip and "<img" not in tip
