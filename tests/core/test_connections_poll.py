"""Who is connected, counted in the poll loop: the filtered sock_diag dump (real loopback
connections, IPv4 and IPv6), its kernel bytecode for many port sets, the cache that returns the
same tuple when nothing changed, and the Monitor attaching counts to rows as they change."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest

from portwatch.core.model import (
    AlertKind,
    AnnotatedListener,
    ConnectionSummary,
    Exposure,
    Family,
    Listener,
    Peer,
    ProcessInfo,
    Proto,
    Snapshot,
)
from portwatch.core.monitor import Monitor, PollResult
from portwatch.core.probe import ListenerScanner
from portwatch.core.probe.conndump import MAX_FILTER_PORTS, ConnectionDump, port_filter
from portwatch.core.probe.connections import Connection, ConnectionIndex
from portwatch.core.probe.connwatch import ConnectionWatch

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="Linux sock_diag")


class Server:
    """A listening socket and the connections made to it (both ends kept open)."""

    def __init__(self, family: int = socket.AF_INET, host: str = "127.0.0.1") -> None:
        self.family, self.host = family, host
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.ends: list[socket.socket] = []

    def connect(self) -> int:
        """One more connection; returns the client's local port."""
        client = socket.socket(self.family, socket.SOCK_STREAM)
        client.connect((self.host, self.port))
        server_end, _ = self.sock.accept()
        self.ends += [client, server_end]
        return client.getsockname()[1]

    def close(self) -> None:
        for item in (*self.ends, self.sock):
            item.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_the_filter_keeps_only_the_server_ends_of_our_ports(servers):
    v4 = Server()
    servers.append(v4)
    clients = {("127.0.0.1", v4.connect()) for _ in range(3)}
    ports = {v4.port}
    if _has_ipv6_loopback():
        v6 = Server(socket.AF_INET6, "::1")
        servers.append(v6)
        clients |= {("::1", v6.connect()) for _ in range(2)}
        ports.add(v6.port)
    servers_at = {("127.0.0.1", v4.port)} | ({("::1", v6.port)} if len(servers) > 1 else set())
    dump = ConnectionDump()

    def seen() -> tuple[set, set, set]:
        mine = [c for c in dump.connections(ports) if (c.local, c.local_port) in servers_at]
        every = dump.connections()  # unfiltered: the client ends are there too
        return ({c.local_port for c in dump.connections(ports)} - ports,
                {(c.remote, c.remote_port) for c in mine},
                {(c.local, c.local_port) for c in every})

    # A dump that spans several reads is not atomic: while other programs open and close
    # connections the kernel's cursor can skip a socket, so the answer is awaited.
    deadline = time.monotonic() + 30
    while True:
        strangers, remotes, everyone = seen()
        if (not strangers and remotes == clients and clients <= everyone) \
                or time.monotonic() > deadline:
            break
    assert not strangers  # nothing whose local port is not one of ours
    assert remotes == clients  # the other ends are the clients
    assert clients <= everyone


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 9, 33, 300, MAX_FILTER_PORTS + 1])
def test_every_port_set_filters_exactly(servers, size):
    """The kernel runs the tree of comparisons: whatever the set's size and where our port sits
    in it, what comes back is exactly the connections whose local port is in the set."""
    server = Server()
    servers.append(server)
    server.connect()
    server.connect()
    rng = random.Random(size)
    others = set(rng.sample([p for p in range(1, 32768) if p != server.port], size - 1))
    dump = ConnectionDump()
    deadline = time.monotonic() + 30  # a dump is not atomic: awaited (see above)
    while True:
        found = dump.connections(others | {server.port})
        if sum(1 for c in found if c.local_port == server.port) == 2 \
                or time.monotonic() > deadline:
            break
    assert {c.local_port for c in found} <= others | {server.port}
    assert sum(1 for c in found if c.local_port == server.port) == 2
    # without our port, none of ours
    assert not [c for c in dump.connections(others or {1}) if c.local_port == server.port]


def test_port_filter_is_a_tree_of_well_formed_ops():
    code = port_filter(range(1000, 1300))
    assert len(code) % 4 == 0
    # 300 ports: a test and an accepting jump each, plus the tree's comparisons (< 300)
    assert 300 * 12 < len(code) < 300 * 12 + 300 * 8


def test_nothing_changed_is_the_same_tuple_and_a_change_is_seen(servers):
    server = Server()
    servers.append(server)
    server.connect()
    dump = ConnectionDump()
    first = dump.connections({server.port})
    assert dump.connections({server.port}) is first
    server.connect()
    second = dump.connections({server.port})
    assert second is not first and len(second) == 2


def test_an_index_tells_peers_apart_by_where_they_are():

    conns = [Connection("0.0.0.0", 80, addr, 4000 + n, n + 1)
             for n, addr in enumerate(("127.0.0.1", "10.1.2.3", "192.168.0.9", "8.8.8.8",
                                       "::ffff:10.77.0.1"))]
    conns = [c._replace(local="10.77.0.1") for c in conns]
    index = ConnectionIndex(conns, {"10.77.0.1"})
    listener = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80, Exposure.ALL_INTERFACES)
    summary = index.summary(listener)
    # other machines first: the internet, the local network, then this machine
    assert [(p.scope, p.address) for p in summary.peers] == [
        ("internet", "8.8.8.8"), ("lan", "10.1.2.3"), ("lan", "192.168.0.9"),
        ("local", "10.77.0.1"), ("local", "127.0.0.1")]
    assert (summary.established, summary.remote_peers, summary.local_peers) == (5, 3, 2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_monitor_counts_connections_and_reports_changed_rows(servers):
    server = Server()
    servers.append(server)
    server.connect()
    clock = Clock()
    watch = ConnectionWatch(lambda: frozenset(), clock=clock)
    scanner = ListenerScanner()
    try:
        monitor = Monitor(scanner.scan, connections=watch)
        first = monitor.poll()
        (row,) = [r for r in first.rows if r.listener.port == server.port]
        assert row.connections.established == 1
        assert row.connections.local_peers == 1 and row.connections.remote_peers == 0
        assert row.connections.peers[0].scope == "local"
        udp = [r for r in first.rows if r.listener.proto.value == "udp"]
        assert all(r.connections is None for r in udp)  # UDP has no connections
        server.connect()
        server.connect()
        # not due yet: the count waits (a bounded share of a core), the row is unchanged
        assert watch.wait > 0
        clock.now += watch.wait / 2
        quiet = monitor.poll()
        assert not [r for r in quiet.changed if r.listener.port == server.port]
        deadline = time.monotonic() + 30  # a dump is not atomic: awaited (see above)
        while True:
            clock.now += watch.wait + 1
            later = monitor.poll()
            changed = [r for r in later.changed if r.listener.port == server.port]
            if (changed and changed[0].connections.established == 3) \
                    or time.monotonic() > deadline:
                break
        assert [r.connections.established for r in changed] == [3]
        (kept,) = [r for r in later.rows if r.listener.port == server.port]
        assert kept.connections.established == 3
        assert not later.first_remote  # loopback peers are this machine
    finally:
        scanner.close()


def test_alert_for_the_first_connection_from_the_network_is_opt_in():
    from portwatch.core.alerts.memory import InMemoryAlertMemory
    from portwatch.core.alerts.rules import AlertRules

    listener = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 6379, Exposure.ALL_INTERFACES,
                        ProcessInfo(42, "redis-server"))
    summary = ConnectionSummary(1, 1, 1, 0, (Peer("10.77.0.2", 51234, "lan"),))
    row = AnnotatedListener(listener, connections=summary)
    result = PollResult(Snapshot(0.0, (listener,)), (row,), (), (), (), first=False,
                        duration=0.0, first_remote=(row,))
    assert AlertRules(InMemoryAlertMemory()).evaluate(result) == ()  # off by default
    rules = AlertRules(InMemoryAlertMemory(), first_remote=True)
    (alert,) = rules.evaluate(result)
    assert alert.kind is AlertKind.FIRST_REMOTE
    assert alert.title == "First connection from the network to redis-server on 6379"
    assert alert.body.startswith("from 10.77.0.2:51234 (local network)")
    assert rules.evaluate(result) == ()  # once per program and port


def test_a_first_remote_watch_line_names_the_peer():
    from portwatch.commands.watch import human_line

    listener = Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 6379, Exposure.ALL_INTERFACES,
                        ProcessInfo(42, "redis-server"))
    summary = ConnectionSummary(2, 2, 1, 1, (Peer("10.77.0.2", 51234, "lan"),
                                             Peer("127.0.0.1", 40000, "local")))
    line = human_line("first-remote", 0.0, AnnotatedListener(listener, connections=summary))
    assert "first-remote  tcp 0.0.0.0:6379  redis-server (pid 42) from 10.77.0.2:51234" \
        " (local network)  all interfaces" in line
