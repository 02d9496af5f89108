"""scan_listeners() against real sockets and real processes on this machine."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import psutil
import pytest

from portwatch.core.model import Exposure, Family, Proto
from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES
from portwatch.core.probe.scanner import ListenerScanner, scan_listeners

REPO = Path(__file__).resolve().parents[2]


def find(snapshot, proto, port, pid=None):
    return [
        item for item in snapshot.listeners
        if item.proto is proto and item.port == port and (pid is None or item.pid == pid)
    ]


def test_own_tcp_and_udp_sockets_appear_with_this_process():
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        snapshot = scan_listeners()
        me = psutil.Process()
        for proto, sock in ((Proto.TCP, tcp), (Proto.UDP, udp)):
            port = sock.getsockname()[1]
            (found,) = find(snapshot, proto, port)
            assert found.pid == os.getpid()
            assert found.process.name == me.name()
            assert found.process.exe == me.exe()
            assert found.process.create_time == pytest.approx(me.create_time())
            assert found.address == "127.0.0.1"
            assert found.family is Family.IPV4
            assert found.exposure is Exposure.LOOPBACK
            assert not found.owner_hidden
    finally:
        tcp.close()
        udp.close()


def test_ipv6_loopback_listener(listener_factory):
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6 support")
    try:
        child = listener_factory("tcp", "::1")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    (found,) = find(scan_listeners(), Proto.TCP, child.port, child.pid)
    assert found.family is Family.IPV6
    assert found.exposure is Exposure.LOOPBACK
    assert found.endpoint == f"[::1]:{child.port}"


def test_connected_sockets_are_not_listeners():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", 9))  # connected UDP: a client, not a listener
    try:
        snapshot = scan_listeners()
        client_port = client.getsockname()[1]
        assert not find(snapshot, Proto.TCP, client_port)
        assert not find(snapshot, Proto.UDP, udp.getsockname()[1])
        assert len(find(snapshot, Proto.TCP, server.getsockname()[1])) == 1
    finally:
        for sock in (client, peer, server, udp):
            sock.close()


def test_closed_listener_disappears(listener_factory):
    child = listener_factory("tcp")
    assert find(scan_listeners(), Proto.TCP, child.port, child.pid)
    child.stop()
    # by address too: another program may listen on the same port number elsewhere (::1)
    assert not [item for item in find(scan_listeners(), Proto.TCP, child.port)
                if item.address == child.host]


class _KillsChildAfterListing:
    """The real psutil, except that right after the sockets are listed the child exits:
    the race a scan meets when a process ends between listing and reading its details."""

    def __init__(self, child):
        self._child = child

    def __getattr__(self, name):
        return getattr(psutil, name)

    def net_connections(self, kind):
        conns = psutil.net_connections(kind)
        self._child.stop()
        return conns


def test_process_exiting_mid_scan_does_not_break_it(listener_factory):
    child = listener_factory("tcp")
    assert any(c.pid == child.pid for c in psutil.net_connections("inet"))
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen()
    try:
        snapshot = ListenerScanner(_KillsChildAfterListing(child)).scan()
        assert child.proc.poll() is not None
        # The child's socket is dropped (or kept with no owner), never attributed wrongly...
        for item in find(snapshot, Proto.TCP, child.port):
            assert item.pid in (None, child.pid)
            assert item.pid is None or item.process.name
        assert not [i for i in snapshot.listeners if i.pid == child.pid and i.process.exe]
        # ...and the rest of the scan is intact.
        assert find(snapshot, Proto.TCP, own.getsockname()[1], os.getpid())
    finally:
        own.close()


def test_scanner_reuses_process_details_until_pid_is_reused(listener_factory):
    child = listener_factory("tcp")
    scanner = ListenerScanner()
    (first,) = find(scanner.scan(), Proto.TCP, child.port, child.pid)
    (second,) = find(scanner.scan(), Proto.TCP, child.port, child.pid)
    assert second.process is first.process  # cached: same (pid, start time)
    assert first.process.create_time == pytest.approx(psutil.Process(child.pid).create_time())


UNPRIVILEGED_SCAN = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from portwatch.core.probe.scanner import scan_listeners
    snap = scan_listeners()
    print(json.dumps([[l.proto.value, l.port, l.pid, l.owner_hidden, l.hidden_reason]
                      for l in snap.listeners]))
    """
)




def test_unprivileged_scan_reports_roots_listeners_as_hidden(listener_factory, nobody_copy):
    from nobody import run_as_nobody

    child = listener_factory("tcp")  # owned by root
    result = run_as_nobody(nobody_copy, ["-c", UNPRIVILEGED_SCAN, str(nobody_copy)], timeout=60)
    assert result.returncode == 0, result.stderr
    import json

    rows = json.loads(result.stdout)
    mine = [row for row in rows if row[0] == "tcp" and row[1] == child.port]
    assert mine, f"root's listener on {child.port} missing from nobody's scan: {rows}"
    assert all(row[2] is None and row[3] is True for row in mine)
    assert mine[0][4] == HIDDEN_NEEDS_PRIVILEGES

