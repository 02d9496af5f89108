"""ListenerModel: incremental updates (checked by qtmodeltester), highlights, sorting, speed."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from gui_rows import ScriptedMonitor, listener
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QTableView

from portwatch.core.model import Risk
from portwatch.core.probe.exposure import address_key
from portwatch.gui.models.filter_proxy import ListenerFilterProxy
from portwatch.gui.models.listener_model import (
    ROW_ROLE,
    SORT_ROLE,
    STATE_ROLE,
    Column,
    ListenerModel,
    RowState,
)
from portwatch.gui.style import risk_style


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ports(model) -> list[int]:
    return [model.index(r, Column.PORT).data(SORT_ROLE) for r in range(model.rowCount())]


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def model(qtbot, clock):
    return ListenerModel(highlight_seconds=3.0, clock=clock)


def test_model_passes_qtmodeltester_through_inserts_changes_closing_and_removals(
        qtmodeltester, model, clock):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22), listener(80), listener(3141)]))
    qtmodeltester.check(model)  # also keeps checking every signal from here on
    model.apply(scripted.poll([listener(22), listener(80, cmdline=("server", "-v")),
                               listener(443), listener(53, "udp")]))
    assert model.rowCount() == 5  # 3141 is closing, still shown
    clock.now += 3.5
    model.expire_highlights()
    assert sorted(ports(model)) == [22, 53, 80, 443]
    model.apply(scripted.poll([listener(53, "udp")]))
    clock.now += 3.5
    model.expire_highlights()
    assert ports(model) == [53]
    model.apply(scripted.poll([]))
    clock.now += 3.5
    model.expire_highlights()
    assert model.rowCount() == 0
    qtmodeltester.check(model)


def test_first_poll_is_not_highlighted_later_ones_are(model, clock):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22), listener(80)]))
    assert {model.state_at(r) for r in range(2)} == {RowState.NORMAL}
    assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is None

    model.apply(scripted.poll([listener(22), listener(443)]))
    by_port = {model.item_at(r).listener.port: r for r in range(model.rowCount())}
    assert model.state_at(by_port[443]) is RowState.NEW
    assert model.index(by_port[443], Column.PORT).data(STATE_ROLE) is RowState.NEW
    assert model.state_at(by_port[80]) is RowState.CLOSING
    assert model.state_at(by_port[22]) is RowState.NORMAL
    green = model.index(by_port[443], 3).data(Qt.ItemDataRole.BackgroundRole)
    red = model.index(by_port[80], 3).data(Qt.ItemDataRole.BackgroundRole)
    assert green.color().name() == risk_style.NEW_ROW_BACKGROUND
    assert red.color().name() == risk_style.CLOSING_ROW_BACKGROUND
    assert model.open_count == 2

    clock.now += 2.9
    model.expire_highlights()
    assert model.rowCount() == 3  # not yet
    clock.now += 0.2
    model.expire_highlights()
    assert sorted(ports(model)) == [22, 443]
    assert {model.state_at(r) for r in range(2)} == {RowState.NORMAL}


def test_closing_row_that_reappears_is_revived(model, clock):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22), listener(80)]))
    model.apply(scripted.poll([listener(22)]))
    assert RowState.CLOSING in {model.state_at(r) for r in range(2)}
    clock.now += 1
    model.apply(scripted.poll([listener(22), listener(80)]))
    assert [model.state_at(r) for r in range(2)] == [RowState.NORMAL, RowState.NORMAL]
    clock.now += 10
    model.expire_highlights()
    assert sorted(ports(model)) == [22, 80]


def test_highlight_timer_removes_closing_rows_by_itself(qtbot):
    model = ListenerModel(highlight_seconds=0.05)
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22), listener(80)]))
    model.apply(scripted.poll([listener(22)]))
    assert model.rowCount() == 2
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=2000)
    assert ports(model) == [22]


def test_polls_never_reset_and_selection_survives(qtbot, model, clock):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(p) for p in (22, 80, 443, 8080)]))
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(Column.PORT, Qt.SortOrder.AscendingOrder)
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    model.layoutChanged.connect(lambda: resets.append(2))
    view.selectRow(2)  # port 443
    assert view.currentIndex().data(ROW_ROLE).listener.port == 443
    for step in range(4):
        model.apply(scripted.poll([listener(22, cmdline=("x", str(step))), listener(443),
                                   listener(8080), listener(9000 + step)]))
        clock.now += 5
        model.expire_highlights()
        assert view.currentIndex().data(ROW_ROLE).listener.port == 443
    assert resets == []


def test_change_signals_only_the_changed_cells(model):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22), listener(80)]))
    seen = []
    model.dataChanged.connect(lambda tl, br, roles=(): seen.append((tl.row(), tl.column(),
                                                                   br.row(), br.column())))
    model.apply(scripted.poll([listener(22), listener(80, user="bob")]))
    row = model.row_of(listener(80).key)
    assert seen == [(row, Column.PROCESS, row, Column.USER)]
    assert model.index(row, Column.USER).data() == "bob"


def test_display_escapes_control_characters_and_hidden_owners(model):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22, name="evil\x1b[31m\u202etxt.exe"),
                               listener(23, pid=None)]))
    names = {model.item_at(r).listener.port: model.index(r, Column.PROCESS).data()
             for r in range(2)}
    assert names[22] == "evil\\x1b[31m\\u202etxt.exe"
    assert names[23] == "(hidden)"


def test_cells_show_catalog_meaning_and_risk(model):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22, address="0.0.0.0"), listener(47999)]))
    ssh = model.row_of(listener(22, address="0.0.0.0").key)
    assert model.index(ssh, Column.SERVICE).data() == "ssh"
    assert model.index(ssh, Column.USES).data() == "OpenSSH (sshd)"
    assert model.index(ssh, Column.SECURITY).data() == "regreSSHion (CVE-2024-6387)"
    item = model.index(ssh, 0).data(ROW_ROLE)
    assert item.assessment.risk is not Risk.NONE  # a high note on a port open to every network
    assert model.index(ssh, Column.RISK).data() == risk_style.risk_label(item.assessment.risk)
    assert not model.index(ssh, Column.RISK).data(Qt.ItemDataRole.DecorationRole).isNull()
    tip = QTextDocument()
    tip.setHtml(model.index(ssh, Column.RISK).data(Qt.ItemDataRole.ToolTipRole))
    assert item.assessment.reason in tip.toPlainText()
    unknown = model.row_of(listener(47999).key)
    assert model.index(unknown, Column.SERVICE).data() == "(not registered)"


def test_port_sort_is_numeric_and_address_sort_is_by_family_then_number(qtbot, model):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(10000), listener(900), listener(80, address="10.0.0.10"),
                               listener(81, address="10.0.0.9"), listener(82, address="::1")]))
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.PORT, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(r, Column.PORT).data() for r in range(5)] == \
        ["80", "81", "82", "900", "10000"]
    proxy.sort(Column.ADDRESS, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(r, Column.ADDRESS).data() for r in range(5)] == \
        ["10.0.0.9", "10.0.0.10", "127.0.0.1", "127.0.0.1", "::1"]
    assert address_key("9.0.0.0") < address_key("10.0.0.0") < address_key("::1")


def test_default_sort_is_risk_highest_first_then_port(qtbot, model):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(8080), listener(22, address="0.0.0.0"), listener(80),
                               listener(3389, address="0.0.0.0"), listener(47999)]))
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.RISK, Qt.SortOrder.AscendingOrder)  # ascending: highest risk first
    rows = [proxy.index(r, 0).data(ROW_ROLE) for r in range(proxy.rowCount())]
    ranks = [item.assessment.risk.rank for item in rows]
    assert ranks == sorted(ranks, reverse=True)
    for a, b in itertools.pairwise(rows):
        if a.assessment.risk is b.assessment.risk:
            assert a.listener.port < b.listener.port


def test_a_missed_poll_is_reconciled(model, clock):
    scripted = ScriptedMonitor()
    model.apply(scripted.poll([listener(22)]))
    scripted.poll([listener(22), listener(80)])  # this result never reaches the model
    model.apply(scripted.poll([listener(22), listener(80), listener(443)]))
    assert sorted(ports(model)) == [22, 80, 443]


def test_ten_thousand_rows_take_a_one_percent_churn_as_a_one_percent_change(qtbot):
    """1% churn (50 opened, 50 closed, 50 changed) on 10,000 rows behind a sorted proxy tells
    the views about those rows only: no reset, no layout change, no cell of an unchanged row.
    (Work per row that grows with the table shows here as counts, which a busy machine cannot
    blur; the time it takes is a figure of tests/gui/bench_listener_model.py.)"""
    model = ListenerModel(highlight_seconds=0.0)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.RISK, Qt.SortOrder.AscendingOrder)
    scripted = ScriptedMonitor()
    base = [listener(1024 + i, pid=10_000 + i) for i in range(10_000)]
    model.apply(scripted.poll(base))
    assert proxy.rowCount() == 10_000
    now = list(base)
    del now[100:5000:98]  # 50 closed, spread out
    now = [dataclasses.replace(x, process=dataclasses.replace(x.process, user="bob"))
           if i % 190 == 0 else x for i, x in enumerate(now)]
    now += [listener(20_000 + i, pid=30_000 + i) for i in range(50)]
    result = scripted.poll(now)
    assert (len(result.opened), len(result.closed)) == (50, 50)
    told = {"inserted": 0, "removed": 0, "changed rows": 0, "resets": 0, "layouts": 0}

    def count(name, amount=1):
        told[name] += amount

    model.rowsInserted.connect(lambda _parent, first, last: count("inserted", last - first + 1))
    model.rowsRemoved.connect(lambda _parent, first, last: count("removed", last - first + 1))
    model.dataChanged.connect(
        lambda top, bottom, _roles=(): count("changed rows", bottom.row() - top.row() + 1))
    model.modelReset.connect(lambda: count("resets"))
    model.layoutChanged.connect(lambda *_: count("layouts"))
    model.apply(result)
    model.apply(scripted.poll(now))  # the closed rows (highlight 0 s) leave at the next poll
    assert proxy.rowCount() == len(now)
    changed = sum(1 for i, _ in enumerate(now[:-50]) if i % 190 == 0)
    assert told["inserted"] == 50 and told["removed"] == 50
    assert told["resets"] == 0 and told["layouts"] == 0
    assert told["changed rows"] <= changed + 2 * 50, told  # changed users, closed rows turning red


def test_header_and_invalid_index():
    model = ListenerModel()
    assert model.headerData(Column.PORT, Qt.Orientation.Horizontal) == "Port"
    assert model.headerData(Column.SERVICE, Qt.Orientation.Horizontal) == "Service (registry)"
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert model.data(QModelIndex()) is None
    assert model.columnCount() == 14


def test_reach_column_shows_the_firewall_verdict_and_its_rule(model):
    from portwatch.core.firewall import FirewallVerdict
    from portwatch.core.monitor import PollResult

    scripted = ScriptedMonitor()
    first = scripted.poll([listener(6379, address="0.0.0.0"), listener(8000)])
    model.apply(first)
    redis = model.row_of(listener(6379, address="0.0.0.0").key)
    local = model.row_of(listener(8000).key)
    assert model.index(redis, Column.REACH).data() == "all interfaces"
    assert model.index(local, Column.REACH).data() == "loopback only"
    verdict = FirewallVerdict("drop", ("eth0",), "table inet filter, chain input, policy drop",
                              "the firewall drops new connections from outside on eth0: "
                              "table inet filter, chain input, policy drop", (("eth0", "drop"),))
    shielded = dataclasses.replace(model.item_at(redis), firewall=verdict)
    seen = []
    model.dataChanged.connect(lambda tl, br, roles=(): seen.append((tl.column(), br.column())))
    rows = tuple(shielded if r.key == shielded.key else r for r in first.rows)
    model.apply(PollResult(first.snapshot, rows, (), (), (shielded,), first=False, duration=0))
    assert (Column.REACH, Column.REACH) in seen
    assert model.index(redis, Column.REACH).data() == "all interfaces · firewall drops"
    tip = QTextDocument()
    tip.setHtml(model.index(redis, Column.REACH).data(Qt.ItemDataRole.ToolTipRole))
    assert tip.toPlainText() == ("all interfaces; the firewall drops new connections from "
                                 "outside on eth0: table inet filter, chain input, policy drop")
    # sorted: open to the network first, then unknown, blocked, loopback last
    assert (model.index(redis, Column.REACH).data(SORT_ROLE),
            model.index(local, Column.REACH).data(SORT_ROLE)) == (1, 0)


def test_shared_sockets_trust_flags_and_the_sockets_user_in_cells_tooltips_and_details(
        qtmodeltester, model):
    from portwatch.core.fields import FLAG_MARKER
    from portwatch.core.model import Holder, Package, Provenance
    from portwatch.gui.views import report

    scripted = ScriptedMonitor()
    base = listener(80, name="nginx", user="root", exe="/usr/sbin/nginx")
    flagged = dataclasses.replace(base.process, provenance=Provenance(
        False, Package("dpkg", "nginx-light", "1.22.1-9"), ("exe-in-temp-dir",)))
    shared = dataclasses.replace(
        base, process=flagged, socket_user="root",
        holders=(Holder(base.pid, "nginx"), Holder(4191, "nginx"), Holder(4192, "nginx")))
    hidden = dataclasses.replace(listener(5432, pid=None), socket_user="postgres")
    model.apply(scripted.poll([shared, hidden]))
    qtmodeltester.check(model)
    row = model.row_of(shared.key)
    assert model.index(row, Column.PROCESS).data() == \
        FLAG_MARKER + "nginx (shared with 2 processes)"
    tip = QTextDocument()
    tip.setHtml(model.index(row, Column.PROCESS).data(Qt.ItemDataRole.ToolTipRole))
    assert "temporary or world-writable" in tip.toPlainText()
    assert "Shared with nginx (4191), nginx (4192)" in tip.toPlainText()
    hidden_row = model.row_of(hidden.key)
    assert model.index(hidden_row, Column.PROCESS).data() == "(hidden)"
    assert model.index(hidden_row, Column.USER).data() == "postgres"
    tip.setHtml(model.index(hidden_row, Column.USER).data(Qt.ItemDataRole.ToolTipRole))
    assert "Socket user: postgres (the user the kernel records for the socket)." in \
        tip.toPlainText()
    from portwatch.gui.models.filter_proxy import ListenerFilter, matches

    hidden_item = model.index(hidden_row, 0).data(ROW_ROLE)
    assert matches(hidden_item, ListenerFilter(text="postgres"))  # searchable by its user

    text = report.to_text(report.listener_report(model.index(row, 0).data(ROW_ROLE),
                                                 pending=False))
    assert "shared with 2 processes: nginx (4191), nginx (4192)" in text
    assert "nginx-light 1.22.1-9 (dpkg)" in text
    assert "runs from a temporary or world-writable directory" in text
    text = report.to_text(report.listener_report(model.index(hidden_row, 0).data(ROW_ROLE),
                                                 pending=False))
    assert "Socket user: postgres (the user the kernel records for the socket)" in text
    assert "a process of user" not in text
