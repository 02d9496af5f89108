"""File > Add host…, Remove host and Alerts from host without ssh: the dialog refuses what is
not an ssh destination (with a sentence), adding and removing a host and switching its alerts
change the window's settings, and the Host column, the machine filter and the status bar follow
the remote hosts' polls. (The real ssh path, end to end: tests/fleet/test_remote_window.py.)"""

from __future__ import annotations

import dataclasses
from html import unescape

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from portwatch.core.hosts import HostStatus
from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, Proto, Snapshot
from portwatch.core.monitor import PollResult
from portwatch.core.probe import HIDDEN_NO_PROCESS
from portwatch.core.store.settings import Settings
from portwatch.gui.models.filter_proxy import THIS_MACHINE
from portwatch.gui.models.listener_model import Column
from portwatch.gui.views.elided_label import ElidedLabel
from portwatch.gui.views.host_actions import host_problem
from portwatch.gui.views.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    return window


@pytest.mark.parametrize("text", [
    "-oProxyCommand=touch /tmp/pwned", "web1 -p 22", "web1;id", "$(id)", "`id`", "a@b@c",
    "web1\nweb2", "../etc", "web1|nc", ""])
def test_what_is_not_an_ssh_destination_is_refused_with_a_sentence(text):
    problem = host_problem(text, ())
    assert problem is not None
    assert "ssh destination" in problem


@pytest.mark.parametrize("text", ["alice@web1", "web1", "web1.example.org", "10.0.0.2",
                                  "fe80::1%eth0", "lab_box-2"])
def test_ssh_destinations_are_taken(text):
    assert host_problem(text, ()) is None
    assert "added already" in host_problem(text, (text,))


def test_the_dialog_keeps_add_off_until_the_text_is_a_destination(window, qtbot):
    dialog = window.host_actions.open_add_dialog()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and not dialog.problem.isVisible()  # nothing typed yet
    dialog.edit.setText("-oProxyCommand=sh")
    assert not ok.isEnabled() and dialog.problem.isVisible()
    assert dialog.problem.text().startswith("'-oProxyCommand=sh' is not an ssh destination")
    dialog.accept()  # Enter with a bad text does nothing
    assert dialog.isVisible()
    with qtbot.waitSignal(window.settings_changed) as changed:
        dialog.edit.setText(" alice@web1 ")
        ok.click()
    assert changed.args[0].hosts == ("alice@web1",)
    assert window.settings.hosts == ("alice@web1",)
    assert not window.table.isColumnHidden(Column.HOST)
    assert window.table.horizontalHeader().visualIndex(Column.HOST) == 1  # beside Risk
    assert window.host_actions.remove_menu.isEnabled()
    with qtbot.waitSignal(window.settings_changed) as changed:
        window.host_actions.remove_host("alice@web1")
    assert changed.args[0].hosts == () and not window.host_actions.remove_menu.isEnabled()


def remote(port: int, host: str | None) -> AnnotatedListener:
    return AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", port,
                                      Exposure.ALL_INTERFACES, host=host))


def test_the_window_follows_the_hosts_polls(window):
    rows = (remote(22, None), remote(22, "web1"), remote(6379, "db2"))
    statuses = (HostStatus("web1", "ok", listeners=1), HostStatus("db2", "ok", listeners=1),
                HostStatus("gone", "unreachable", "cannot reach gone with ssh: refused"))
    window.apply_poll(PollResult(Snapshot(1.0, ()), rows, rows, (), (), first=True,
                                 duration=0.01, host="web1", hosts=statuses))
    assert window.model.rowCount() == 3  # the same port on two machines: two rows
    assert window.status.counts.text().startswith("1 listening")  # this machine's
    assert window.status.hosts.text() == "hosts: web1 1 · db2 1 · gone unreachable"
    assert "cannot reach gone with ssh: refused" in window.status.hosts.toolTip()
    machine = window.filter_bar.machine
    assert machine.isVisibleTo(window)
    assert [machine.itemText(i) for i in range(machine.count())] == [
        "All machines", "This machine", "web1", "db2", "gone"]
    machine.setCurrentIndex(machine.findData("db2"))
    assert window.proxy.rowCount() == 1
    machine.setCurrentIndex(machine.findData(THIS_MACHINE))
    assert window.proxy.rowCount() == 1
    window.filter_bar.search.setText("web1")  # the search finds host names too
    assert window.proxy.rowCount() == 0
    window.clear_filter()
    window.filter_bar.search.setText("web1")
    assert window.proxy.rowCount() == 1


def test_the_history_tab_names_the_host():
    from portwatch.core.store.history_events import OPENED, HistoryEvent
    from portwatch.gui.models.history_columns import Column as HistoryColumn
    from portwatch.gui.models.history_columns import describe_event, row_of_event

    there = HistoryEvent.of(OPENED, 5.0, remote(6379, "db2"), 1)
    here = HistoryEvent.of(OPENED, 5.0, remote(6379, None), 1)
    assert row_of_event(there).cells[HistoryColumn.HOST] == "db2"
    assert row_of_event(here).cells[HistoryColumn.HOST] == "this machine"
    assert describe_event(there).endswith("  on db2")


def test_alerts_from_host_switches_a_hosts_alerts_in_the_settings(window, qtbot):
    menu = window.host_actions.alerts_menu
    assert not menu.isEnabled()  # no host yet
    window.host_actions.add_host("alice@web1")
    window.host_actions.add_host("db2")
    assert menu.isEnabled() and menu in [a.menu() for a in window.file_menu.actions()]
    menu.aboutToShow.emit()
    assert [(a.text(), a.isChecked()) for a in menu.actions()] == [
        ("alice@web1", True), ("db2", True)]
    window.status.show_hosts((HostStatus("alice@web1", "ok", listeners=1),
                              HostStatus("db2", "ok", listeners=2)))
    with qtbot.waitSignal(window.settings_changed) as changed:
        menu.actions()[1].trigger()  # untick db2
    assert changed.args[0].hosts_without_alerts == ("db2",)
    assert window.statusBar().currentMessage().startswith("Alerts from db2 are off")
    # the status bar says so at once (the worker's next answer says the same)
    assert window.status.hosts.text() == "hosts: alice@web1 1 · db2 2 (alerts off)"
    assert "db2: 2 listeners; alerts off" in window.status.hosts.toolTip()
    menu.aboutToShow.emit()
    assert [(a.text(), a.isChecked()) for a in menu.actions()] == [
        ("alice@web1", True), ("db2  (alerts off)", False)]
    with qtbot.waitSignal(window.settings_changed) as changed:
        window.host_actions.remove_host("db2")  # its choice leaves with it
    assert changed.args[0].hosts_without_alerts == () and changed.args[0].hosts == (
        "alice@web1",)
    with qtbot.waitSignal(window.settings_changed) as changed:
        window.host_actions.set_alerts("alice@web1", False)
    with qtbot.assertNotEmitted(window.settings_changed):
        window.host_actions.set_alerts("alice@web1", False)  # already off
        window.host_actions.set_alerts("gone", True)  # not a host
    with qtbot.waitSignal(window.settings_changed) as changed:
        window.host_actions.set_alerts("alice@web1", True)
    assert changed.args[0].hosts_without_alerts == ()
    assert window.statusBar().currentMessage().startswith("Alerts from alice@web1 are on")


# What this VM's scans say, truthfully: pid 1's network namespace is hidden from portwatch
NAMESPACE_HIDDEN = ("the network namespace of 1 process(es) is hidden from portwatch: their"
                    " listeners are not shown")


def show_status(window, qtbot, width: int, problems: tuple[str, ...] = ()):
    """`window` `width` px wide after a poll with a hidden-owner socket, 2,200 listeners, the
    same port in three other network namespaces and two remote hosts; its status bar laid out."""
    window.resize(width, 780)
    window.show()
    qtbot.waitExposed(window)
    kernel = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 2049,
                                        Exposure.ALL_INTERFACES, owner_hidden=True,
                                        hidden_reason=HIDDEN_NO_PROCESS))
    here = (kernel, *(remote(port, None) for port in range(20000, 22200)))
    elsewhere = tuple(AnnotatedListener(dataclasses.replace(remote(8080, None).listener,
                                                            netns=f"pwtest-{n}"))
                      for n in range(3))  # the same port in three other network namespaces
    statuses = (HostStatus("alice@web1.example.org", "connecting", alerts=False),
                HostStatus("db2.example.org", "unreachable", "ssh: connection refused"))
    rows = here + elsewhere
    window.apply_poll(PollResult(Snapshot(1.0, ()), rows, rows, (), (), first=True,
                                 duration=0.01, hosts=statuses, problems=problems))
    assert window.width() == width
    status = window.status
    last = status.last_scan  # laid out once the poll's texts are
    qtbot.waitUntil(lambda: last.width() >= last.sizeHint().width(), timeout=30_000)
    return status


def check_parts_fit(status) -> list[QLabel]:
    """Each visible part shows whole or ends in "…" within its place, inside the status bar,
    with its whole text in its tooltip and accessible description. The parts."""
    parts = [label for label in status.findChildren(QLabel) if label.isVisible()]
    assert all(label.width() <= status.width() for label in parts)
    for label in parts:
        shown = label.shown_text() if isinstance(label, ElidedLabel) else label.text()
        room = label.contentsRect().width()
        assert label.fontMetrics().horizontalAdvance(shown) <= room, (label.objectName(),
                                                                      shown, room)
        assert status.rect().contains(label.geometry()), label.objectName()
        if shown != label.text():
            assert shown.endswith("…")
            assert label.text() in label.toolTip() or label.text() in unescape(label.toolTip())
            assert label.text() in label.accessibleDescription()
    return parts


def at_its_narrowest(label: ElidedLabel) -> bool:
    return label.width() == label.minimumSizeHint().width()


def test_every_status_bar_part_fits_a_1280_px_window_with_two_hosts(window, qtbot):
    """Two remote hosts beside a hidden-owner message cut "1 socket has no owning process
    (kernel or another container)" at the window's edge: each part now shows whole or ends in
    "…" within its place, with the whole text in its tooltip and accessible description."""
    status = show_status(window, qtbot, 1280)
    assert "in other network namespaces" in status.counts.text()
    parts = check_parts_fit(status)
    assert {status.counts, status.hidden, status.hosts, status.last_scan} <= set(parts)
    # the host states give way: the counts and the hidden-owner message show whole
    assert status.counts.shown_text() == (
        "2201 listening · 2201 reachable from the network · 3 in other network namespaces")
    assert status.hidden.shown_text() == "1 socket has no owning process"
    assert "(kernel or another container)" in status.hidden.toolTip()
    assert HIDDEN_NO_PROCESS[1:] in status.hidden.accessibleDescription()  # capitalised


@pytest.mark.parametrize("width", [1280, 1600, 1920])
def test_a_scan_problem_gives_way_after_the_hosts_and_the_counts_never(window, qtbot, width):
    """A red "Scan incomplete: …" message at 1280 px kept its width while the counts ended in
    "…" ("1 listening · 1 reachable from the netw…"). The order of giving way: the host states
    first, then the problem message (its whole text in the tooltip), then the hidden-owner
    message; the counts show whole."""
    status = show_status(window, qtbot, width, (NAMESPACE_HIDDEN,))
    parts = check_parts_fit(status)
    problem = status.problem
    assert {status.counts, status.hidden, problem, status.hosts, status.last_scan} <= set(parts)
    assert status.counts.shown_text() == status.counts.text()  # never cut
    assert status.hidden.shown_text() == status.hidden.text()
    assert problem.text() == "Scan incomplete: " + NAMESPACE_HIDDEN
    assert problem.text() in unescape(problem.toolTip())
    assert problem.text() == problem.accessibleDescription()
    if problem.shown_text() != problem.text():
        assert at_its_narrowest(status.hosts)  # the hosts gave way before it
    if width == 1280:
        assert problem.shown_text().startswith("Scan incomplete: ")
        assert problem.shown_text().endswith("…")  # 1280 px cannot hold it all
    if width == 1920:
        assert problem.shown_text() == problem.text()  # only the hosts gave way
        assert status.hosts.shown_text().endswith("…") and not at_its_narrowest(status.hosts)


def test_on_this_machine_a_scan_problem_leaves_the_counts_whole(window, qtbot):
    """What this VM showed at 1280 px (no remote hosts): "1 listening · 1 reachable from the
    netw…" beside the whole red problem message."""
    window.resize(1280, 780)
    window.show()
    qtbot.waitExposed(window)
    kernel = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 2024,
                                        Exposure.ALL_INTERFACES, owner_hidden=True,
                                        hidden_reason=HIDDEN_NO_PROCESS))
    window.apply_poll(PollResult(Snapshot(1.0, ()), (kernel,), (kernel,), (), (), first=True,
                                 duration=0.004, problems=(NAMESPACE_HIDDEN,)))
    status = window.status
    last = status.last_scan
    qtbot.waitUntil(lambda: last.width() >= last.sizeHint().width(), timeout=30_000)
    check_parts_fit(status)
    assert status.counts.shown_text() == "1 listening · 1 reachable from the network"
    assert status.hidden.shown_text() == "1 socket has no owning process"
    assert status.problem.shown_text().startswith("Scan incomplete: the network namespace")
