"""The filter proxy: free text, TCP/UDP, reachable-from-network-only, not-in-catalog-only."""

from __future__ import annotations

import pytest
from gui_rows import ScriptedMonitor, listener
from PySide6.QtCore import Qt

from portwatch.gui.models.filter_proxy import ListenerFilter, ListenerFilterProxy
from portwatch.gui.models.listener_model import ROW_ROLE, Column, ListenerModel
from portwatch.gui.views.filter_bar import FilterBar


@pytest.fixture
def proxy(qtbot):
    model = ListenerModel()
    model.apply(ScriptedMonitor().poll([
        listener(22, address="0.0.0.0", name="sshd", user="root"),
        listener(53, "udp", address="127.0.0.53", name="systemd-resolved", user="systemd-resolve"),
        listener(8080, address="192.168.1.20", name="Jenkins", user="ci"),
        listener(47999, address="::", name="mystery", user="alice"),
        listener(47998, "udp", address="::1", name="loopy", user="alice"),
    ]))
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.PORT, Qt.SortOrder.AscendingOrder)
    return proxy


def shown(proxy) -> list[int]:
    return [proxy.index(r, 0).data(ROW_ROLE).listener.port for r in range(proxy.rowCount())]


def test_no_filter_shows_everything(proxy):
    assert shown(proxy) == [22, 53, 8080, 47998, 47999]
    assert not ListenerFilter().active


@pytest.mark.parametrize(("text", "ports"), [
    ("jenk", [8080]),            # process, case-insensitive
    ("SSH", [22]),               # service (and process)
    ("8080", [8080]),            # port
    ("192.168", [8080]),         # address
    ("systemd-resolve", [53]),   # user (and process)
    ("alice", [47998, 47999]),   # user
    ("domain", [53]),            # service name from the catalog
    ("nothing-matches", []),
])
def test_free_text(proxy, text, ports):
    proxy.set_filter(ListenerFilter(text=text))
    assert shown(proxy) == ports


def test_protocol_toggles(proxy):
    proxy.update_filter(udp=False)
    assert shown(proxy) == [22, 8080, 47999]
    proxy.update_filter(udp=True, tcp=False)
    assert shown(proxy) == [53, 47998]
    proxy.update_filter(udp=False)
    assert shown(proxy) == []


def test_reachable_from_the_network_only(proxy):
    proxy.update_filter(network_only=True)
    assert shown(proxy) == [22, 8080, 47999]


def test_not_in_catalog_only(proxy):
    proxy.update_filter(unknown_only=True)
    assert shown(proxy) == [47998, 47999]


def test_filters_combine_and_follow_new_rows(proxy):
    proxy.set_filter(ListenerFilter(text="alice", network_only=True))
    assert shown(proxy) == [47999]


def test_filter_bar_drives_the_proxy(qtbot, proxy):
    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.filter_changed.connect(proxy.set_filter)
    qtbot.keyClicks(bar.search, "ssh")
    assert shown(proxy) == [22]
    bar.search.clear()
    bar.udp.setChecked(False)
    bar.network_only.setChecked(True)
    assert shown(proxy) == [22, 8080, 47999]
    with qtbot.waitSignal(bar.filter_changed) as changed:
        bar.set_filter(ListenerFilter())
    assert changed.args[0] == ListenerFilter()
    assert bar.udp.isChecked() and not bar.network_only.isChecked()
    assert shown(proxy) == [22, 53, 8080, 47998, 47999]
