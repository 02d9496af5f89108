"""The window's view of what started a listener: the "Started by" column (hidden until chosen),
the details' "Started by" section, and the filter that shows other network namespaces.
(The values themselves are read from real cgroups, namespaces and Podman in tests/core.)"""

from __future__ import annotations

import dataclasses

import pytest
from gui_rows import FixedCatalog, ScriptedMonitor, listener
from PySide6.QtCore import Qt

from portwatch.core.model import ContainerInfo
from portwatch.core.settings import Settings
from portwatch.gui.filter_proxy import ListenerFilter
from portwatch.gui.listener_model import ROW_ROLE, Column
from portwatch.gui.main_window import MainWindow
from portwatch.gui.report import listener_report, to_text


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(), FixedCatalog())
    qtbot.addWidget(win)
    yield win
    win.shutdown()


def rows():
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
    window.apply_poll(ScriptedMonitor().poll(rows()))
    assert shown_ports(window) == [22]  # the host's view by default
    window.filter_bar.all_netns.setChecked(True)
    assert shown_ports(window) == [22, 80]
    window.filter_bar.set_filter(ListenerFilter(all_netns=True, text="web"))
    assert shown_ports(window) == [80]  # the container's name is searchable


def test_the_started_by_column_is_hidden_until_chosen(window):
    window.apply_poll(ScriptedMonitor().poll(rows()))
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
    service, inner = (catalog.annotate(row) for row in rows())
    text = to_text(listener_report(service))
    assert "Started by" in text
    assert "systemctl stop ssh.service" in text and "systemctl disable ssh.service" in text
    text = to_text(listener_report(inner))
    assert "podman stop web" in text and "Answers inside" in text and "httpd" in text
    assert "netns-abc" in text
