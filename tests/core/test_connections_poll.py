"""Who is connected, counted in the poll loop: the filtered sock_diag dump (real loopback
connections, IPv4 and IPv6), its kernel bytecode for many port sets, the cache that returns the
same tuple when nothing changed, and the Monitor attaching counts to rows as they change."""

from __future__ import annotations

import random
import socket
import sys
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
from portwatch.core.probe.conndump import ConnectionDump, uniform_run
from portwatch.core.probe.connections import Connection, ConnectionIndex
from portwatch.core.probe.connwatch import ConnectionWatch
from portwatch.core.probe.portfilter import MAX_BYTECODE, port_filter

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


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 9, 17, 33, 300, 2200, 4000, 6000])
@pytest.mark.parametrize("spread", ["apart", "runs"])
def test_every_port_set_filters_exactly(servers, size, spread):
    """The kernel runs the program: whatever the set's size, whether its ports are apart or in
    runs of consecutive ports, and where our port sits in it, what comes back is exactly the
    connections whose local port is in the set (6,000 separate ports do not fit a filter: the
    kernel's keeps ranges around them, and Python the exact ports)."""
    server = Server()
    servers.append(server)
    server.connect()
    server.connect()
    rng = random.Random(size)
    candidates = [p for p in range(1, 65536) if abs(p - server.port) > 1]
    if spread == "apart":
        others = set(rng.sample(candidates, size - 1))
    else:  # runs of 1-5 ports, one of them ending next to ours, one at 65535
        others = {server.port - 1, 65535}
        while len(others) < size - 1:
            start = rng.choice(candidates)
            others.update(p for p in range(start, start + rng.randint(1, 5)) if p < 65536)
        others.discard(server.port)
    exact = port_filter(others | {server.port})[1]
    assert exact == (spread == "runs" or size < 6000)
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


def test_port_filter_sizes():
    # one run of consecutive ports: two comparisons and the closing jump
    code, exact = port_filter(range(1000, 1300))
    assert exact and len(code) == 8 + 8 + 4
    # separate ports: two comparisons each, a jump per bucket, a comparison per tree node
    code, exact = port_filter(range(1000, 5000, 2))
    assert exact and 2000 * 16 < len(code) < 2000 * 16 + 128 * 12
    assert len(code) % 4 == 0 and len(code) <= MAX_BYTECODE
    # 32,768 separate ports do not fit: ranges that cover them, the filter says so
    code, exact = port_filter(range(1, 65536, 2))
    assert not exact and len(code) <= MAX_BYTECODE


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

    def mine(row: AnnotatedListener) -> bool:  # another load may hold the port elsewhere
        return (row.listener.proto is Proto.TCP and row.listener.address == server.host
                and row.listener.port == server.port)

    clock = Clock()
    watch = ConnectionWatch(lambda: frozenset(), clock=clock)
    scanner = ListenerScanner()
    try:
        monitor = Monitor(scanner.scan, connections=watch)
        first = monitor.poll()
        (row,) = [r for r in first.rows if mine(r)]
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
        assert not [r for r in quiet.changed if mine(r)]
        deadline = time.monotonic() + 30  # a dump is not atomic: awaited (see above)
        while True:
            clock.now += watch.wait + 1
            later = monitor.poll()
            changed = [r for r in later.changed if mine(r)]
            if (changed and changed[0].connections.established == 3) \
                    or time.monotonic() > deadline:
                break
        assert [r.connections.established for r in changed] == [3]
        (kept,) = [r for r in later.rows if mine(r)]
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
    assert alert.title == "First connection from the network to redis-server on 6379, from" \
        " 10.77.0.2"
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


class _Recording:
    """A real sock_diag socket that keeps every datagram the kernel answers with."""

    def __init__(self) -> None:
        from portwatch.core.probe.sockdiag import _open_netlink

        self.sock = _open_netlink()
        self.datagrams: list[bytes] = []

    def send(self, data: bytes) -> int:
        return self.sock.send(data)

    def recv_into(self, buffer: bytearray) -> int:
        size = self.sock.recv_into(buffer)
        self.datagrams.append(bytes(buffer[:size]))
        return size

    def close(self) -> None:
        self.sock.close()


def test_the_one_pass_decode_equals_the_walk_on_a_real_dump(servers):
    """A few hundred real loopback connections (IPv4 and IPv6): every datagram of the kernel's
    answer decodes to the same connections in one pass as message by message, the one-pass
    path is really taken, and a datagram with one longer message (an extra attribute, as a
    TCP-MD5 socket has) is walked and still decodes the same."""
    v4 = Server()
    servers.append(v4)
    for _ in range(300):
        v4.connect()
    expected = 300
    if _has_ipv6_loopback():
        v6 = Server(socket.AF_INET6, "::1")
        servers.append(v6)
        for _ in range(40):
            v6.connect()
        expected += 40
    ports = {server.port for server in servers}
    recordings: list[_Recording] = []

    def opener() -> _Recording:
        recordings.append(_Recording())
        return recordings[-1]

    dump = ConnectionDump(opener)
    deadline = time.monotonic() + 30  # a dump is not atomic: awaited (see above)
    while len(dump.connections(ports)) != expected and time.monotonic() < deadline:
        pass
    datagrams = recordings[-1].datagrams
    assert len(dump.connections(ports)) == expected
    uniform = [data for data in datagrams if uniform_run(data)]
    assert uniform  # the fast path is the one taken
    assert sum(uniform_run(data)[0] for data in uniform) == expected
    fast, slow = ConnectionDump(), ConnectionDump()
    slow.fast = False
    for data in datagrams:
        assert fast._decode(data) == slow._decode(data)
    # decoded again from the cache of known sockets, and with every socket new
    assert [fast._decode(d) for d in datagrams] == [ConnectionDump()._decode(d)
                                                    for d in datagrams]
    # one message made longer by an extra attribute: not uniform, walked, the same sockets
    data = uniform[0]
    stride = uniform_run(data)[1]
    longer = bytearray(data[:stride])
    longer[0:4] = (stride + 8).to_bytes(4, sys.byteorder)
    longer += (8).to_bytes(2, sys.byteorder) + (99).to_bytes(2, sys.byteorder) + bytes(4)
    mixed = bytes(longer) + data[stride:]
    assert uniform_run(mixed) is None
    assert ConnectionDump()._decode(mixed) == slow._decode(data)
    by_server = {server.port: sum(1 for c in dump.connections(ports) if c.local_port
                                  == server.port) for server in servers}
    assert by_server == {servers[0].port: 300, **({servers[1].port: 40}
                                                  if len(servers) > 1 else {})}


def test_connections_unknown_is_said_at_every_poll_in_words(servers):
    """A dump that fails keeps saying so at every poll (it said so once, then the status bar
    cleared it), with the errno once. The failure is real: the dump is handed a sock_diag
    socket that is already closed, so its request fails with EBADF in the kernel."""
    server = Server()
    servers.append(server)

    def closed_socket():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
        sock.close()
        return sock

    clock = Clock()
    watch = ConnectionWatch(lambda: frozenset(), dump=ConnectionDump(closed_socket), clock=clock)
    scanner = ListenerScanner()
    try:
        monitor = Monitor(scanner.scan, connections=watch)
        said = []
        for _ in range(4):
            said.append([p for p in monitor.poll().problems if p.startswith("connections")])
            clock.now += 1  # due again only after MAX_WAIT: the polls between say it too
    finally:
        scanner.close()
    assert said[0] == said[1] == said[2] == said[3]
    (text,) = said[0]
    assert text == "connections unknown: [Errno 9] sock_diag dump failed: Bad file descriptor"
