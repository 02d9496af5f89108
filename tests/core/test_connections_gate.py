"""The counters gate of `ConnectionWatch`: a count whose namespace's TCP counters did not move
runs no dump and keeps the last count; any socket that comes or goes (a new connection, a FIN
that leaves a server end in CLOSE_WAIT, data on a connection) makes the next count dump again.

Everything runs in a network namespace of the test's own (`ip netns add pwtest-…`), entered by
one thread with setns(2): nothing else sends TCP there, so "the counters did not move" is a fact
of the test and not a hope about the machine. The watch is built as the program builds it (its
own dump, `tcp_counters` of /proc/thread-self), so the test also shows that both read the
namespace of the thread that counts."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable

import pytest
from namespaces import named_netns, root_skip_reason

from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto
from portwatch.core.probe.conndump import ConnectionDump
from portwatch.core.probe.connwatch import MAX_WAIT, ConnectionWatch, tcp_counters

CLONE_NEWNET = 0x40000000

pytestmark = pytest.mark.skipif(root_skip_reason("ip") is not None,
                                reason=root_skip_reason("ip") or "")


def in_netns(name: str, work: Callable[[], object]) -> object:
    """`work()` in a thread that entered namespace `name` (the thread, and with it the
    namespace change, ends with the call); its exception is raised here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the namespace thread did not finish"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def listener(port: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(os.getpid(), "python"))


@pytest.fixture
def netns():
    with named_netns("gate") as name:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        yield name


def test_the_gate_skips_the_dump_only_while_no_socket_came_or_went(netns):
    def work() -> list[tuple[str, int, int, bool]]:
        steps: list[tuple[str, int, int, bool]] = []
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        ends: list[socket.socket] = []

        def connect() -> socket.socket:
            client = socket.create_connection(("127.0.0.1", port))
            ends.extend([client, server.accept()[0]])
            return client

        try:
            for _ in range(3):
                connect()
            clock = Clock()
            watch = ConnectionWatch(frozenset, clock=clock)
            rows = (listener(port),)

            def step(what: str, listeners=rows) -> None:
                clock.now += watch.wait + 0.001  # due, but well within MAX_WAIT
                changed = watch.count(listeners)
                summary = watch.summary(rows[0])
                steps.append((what, watch.dumps, summary.established, changed))

            step("first count")
            step("nothing happened")
            step("nothing happened again")
            ends[0].sendall(b"x")  # data: the counters move, the connections do not
            assert ends[1].recv(1) == b"x"
            step("a byte sent")
            ends[0].close()  # the client's FIN: the server's end goes to CLOSE_WAIT
            step("a client closed")
            connect()
            step("a new connection")
            step("nothing happened")
            step("another listener's port", (*rows, listener(port + 1 if port < 65535 else 1)))
            clock.now += MAX_WAIT  # the full dump that runs whatever the counters say
            changed = watch.count(rows)
            steps.append(("after MAX_WAIT", watch.dumps, watch.summary(rows[0]).established,
                          changed))
            return steps
        finally:
            for item in (*ends, server):
                item.close()

    steps = in_netns(netns, work)
    assert steps == [
        ("first count", 1, 3, True),
        ("nothing happened", 1, 3, False),
        ("nothing happened again", 1, 3, False),
        ("a byte sent", 2, 3, False),
        ("a client closed", 3, 2, True),
        ("a new connection", 4, 3, True),
        ("nothing happened", 4, 3, False),
        ("another listener's port", 5, 3, False),
        ("after MAX_WAIT", 6, 3, False),
    ]


def test_without_counters_every_due_count_dumps(netns):
    def work() -> list[int]:
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        accepted = server.accept()[0]
        try:
            rows = (listener(server.getsockname()[1]),)
            clock = Clock()
            unreadable = ConnectionWatch(frozenset, clock=clock, counters=lambda: None)
            handed_in = ConnectionWatch(frozenset, dump=ConnectionDump(), clock=clock)
            for _ in range(3):
                clock.now += max(unreadable.wait, handed_in.wait) + 0.001
                unreadable.count(rows)
                handed_in.count(rows)
            return [unreadable.dumps, handed_in.dumps,
                    unreadable.summary(rows[0]).established]
        finally:
            for item in (client, accepted, server):
                item.close()

    # counters that cannot be read, or a dump of a namespace the watch cannot know: no gate
    assert in_netns(netns, work) == [3, 3, 1]


def test_tcp_counters_are_the_namespaces_own(netns):
    def work() -> tuple[bytes | None, bytes | None]:
        before = tcp_counters()
        server = socket.create_server(("127.0.0.1", 0))
        with server, socket.create_connection(server.getsockname()), server.accept()[0]:
            return before, tcp_counters()

    before, after = in_netns(netns, work)
    from pathlib import Path

    names = Path("/proc/net/snmp").read_text().split("\nTcp: ", 1)[1].split("\n", 1)[0].split()
    first = dict(zip(names, before.split(), strict=True))
    second = dict(zip(names, after.split(), strict=True))
    # a fresh namespace: no connection before, one opened each way and established after
    assert (first["ActiveOpens"], first["PassiveOpens"], first["CurrEstab"]) == (b"0", b"0", b"0")
    assert (second["ActiveOpens"], second["PassiveOpens"], second["CurrEstab"]) \
        == (b"1", b"1", b"2")
    assert tcp_counters("/nonexistent/snmp") is None
