"""The Connections column and the details' peers list, from a real poll: a loopback connection
to a listener of this test shows as "1" in the table, its count changes in place when a second
client connects, and the details list each peer with where it is."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtCore import Qt

from portwatch.core.monitor import Monitor
from portwatch.core.probe import ListenerScanner
from portwatch.core.probe.connwatch import ConnectionWatch
from portwatch.gui.models.listener_model import Column, ListenerModel
from portwatch.gui.views import report

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="Linux sock_diag")


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _row(model: ListenerModel, port: int) -> int:
    for row in range(model.rowCount()):
        if model.index(row, Column.PORT).data() == str(port):
            return row
    raise AssertionError(f"no row for port {port}")


def test_connections_column_and_peers_in_the_details(qtbot):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    ends = []
    scanner = ListenerScanner()
    try:
        ends.append(socket.create_connection(("127.0.0.1", port)))
        ends.append(server.accept()[0])
        clock = Clock()
        watch = ConnectionWatch(frozenset, clock=clock)
        monitor = Monitor(scanner.scan, connections=watch)
        model = ListenerModel()
        model.apply(monitor.poll())
        cell = model.index(_row(model, port), Column.CONNECTIONS)
        assert cell.data() == "1"
        assert model.headerData(Column.CONNECTIONS, Qt.Orientation.Horizontal) == "Connections"
        assert "1 established connection from 1 address" in cell.data(Qt.ItemDataRole.ToolTipRole)

        ends.append(socket.create_connection(("127.0.0.1", port)))
        ends.append(server.accept()[0])
        clock.now += watch.wait + 1  # the next count is due
        with qtbot.waitSignal(model.dataChanged):
            model.apply(monitor.poll())
        row = _row(model, port)
        assert model.index(row, Column.CONNECTIONS).data() == "2"

        item = model.index(row, 0).data(report_role())
        text = report.to_text(report.listener_report(item, pending=False))
        assert "Connected now" in text
        assert "2 established connections from 1 address: 0 from other machines, 2 from" \
            " this one" in text
        peers = {end.getsockname()[1] for end in ends[0::2]}
        for peer in peers:
            assert f"  This machine: 127.0.0.1:{peer}\n" in text
    finally:
        scanner.close()
        for end in ends:
            end.close()
        server.close()


def report_role() -> int:
    from portwatch.gui.models.listener_model import ROW_ROLE

    return ROW_ROLE


def test_udp_and_uncounted_listeners_say_so_in_the_details():
    from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, Proto

    tcp = AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80,
                                     Exposure.ALL_INTERFACES))
    text = report.to_text(report.listener_report(tcp, pending=False))
    assert "Connected now" in text and "unknown: not counted yet" in text
    udp = AnnotatedListener(Listener(Proto.UDP, Family.IPV4, "0.0.0.0", 53,
                                     Exposure.ALL_INTERFACES))
    assert "Connected now" not in report.to_text(report.listener_report(udp, pending=False))
