"""Every process holding a socket, and the one a person means as its owner (real processes).

A socket held by several processes lists them all in `holders` (and `list --json`'s
"holders"), and the row's owner is the holder whose parent is not a holder too, the oldest of
those: a server that forked a worker, a server that leaked its listening fd into `sleep`, and
a socket passed with SCM_RIGHTS to an unrelated process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from portwatch.core.output import records
from portwatch.core.probe.owner_cache import ticks_since_boot
from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.scanner import ListenerScanner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="holders come from the Linux fast path")

DEADLINE = 30.0

# A server that forks: the child keeps the listening socket and waits for stdin to close.
FORKING = textwrap.dedent(
    """
    import json, os, socket, sys
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    child = os.fork()
    if child == 0:
        sys.stdin.read(); os._exit(0)
    print(json.dumps({"port": s.getsockname()[1], "child": child}), flush=True)
    sys.stdin.read()
    os.waitpid(child, 0)
    """
)

# A server that starts `sleep 60` with its listening fd inherited (a leaked fd).
LEAKING = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    sleeper = subprocess.Popen(["sleep", "60"], pass_fds=(s.fileno(),))
    print(json.dumps({"port": s.getsockname()[1], "child": sleeper.pid}), flush=True)
    sys.stdin.read()
    sleeper.kill(); sleeper.wait()
    """
)

# Sends a listening socket over a unix socket to whoever connects, then keeps its own copy.
SENDER = textwrap.dedent(
    """
    import array, json, os, socket, sys
    path = sys.argv[1]
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    unix = socket.socket(socket.AF_UNIX); unix.bind(path); unix.listen()
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    conn, _ = unix.accept()
    conn.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                           array.array("i", [s.fileno()]))])
    print(json.dumps({"sent": True}), flush=True)
    sys.stdin.read()
    """
)

RECEIVER = textwrap.dedent(
    """
    import array, json, socket, sys
    unix = socket.socket(socket.AF_UNIX); unix.connect(sys.argv[1])
    _, ancillary, _, _ = unix.recvmsg(1, socket.CMSG_SPACE(4))
    fds = array.array("i"); fds.frombytes(ancillary[0][2])
    kept = socket.socket(fileno=fds[0])
    print(json.dumps({"received": kept.getsockname()[1]}), flush=True)
    sys.stdin.read()
    """
)


class Started:
    """A python child started by this test, ended by its PID (and its own children with it)."""

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, "the child ended early"
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # it ends its own children, then itself
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        else:
            self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def start():
    started: list[Started] = []

    def run(script: str, *args: str) -> Started:
        child = Started(script, *args)
        started.append(child)
        return child

    yield run
    for child in reversed(started):
        child.stop()


@pytest.fixture
def fast():
    scanner = ListenerScanner()
    yield scanner
    scanner.close()


def row_on(scanner: ListenerScanner, port: int, holders: int):
    """The one row on 127.0.0.1:port once `holders` processes hold it (polled: a child may
    still be starting)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = [item for item in scanner.scan().listeners
                 if item.port == port and item.address == "127.0.0.1"]
        if len(found) == 1 and len(found[0].holders) == holders:
            return found[0]
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def test_a_server_that_forked_a_worker_owns_the_socket(fast, start):
    server = start(FORKING)
    info = server.read()
    row = row_on(fast, info["port"], 2)
    assert row.pid == server.pid  # the parent, although the child has the higher pid
    assert [pid for pid, _ in row.holders] == [server.pid, info["child"]]
    assert row.shared_with == 1
    record = records.listener_record(row)
    assert record["pid"] == server.pid
    assert record["holders"] == [{"pid": server.pid, "process": row.process.name},
                                 {"pid": info["child"], "process": row.holders[1].process}]


def test_a_server_that_leaked_its_fd_into_sleep_owns_it_and_sleep_holds_it(fast, start):
    server = start(LEAKING)
    info = server.read()
    row = row_on(fast, info["port"], 2)
    assert row.pid == server.pid
    holders = dict(row.holders)
    assert holders[info["child"]] == "sleep"
    assert row.holders[0].pid == server.pid
    # The server exits and closes its copy: sleep is all that holds the socket now.
    os.kill(info["child"], signal.SIGSTOP)  # keep sleep alive while its parent goes
    try:
        server.proc.kill()
        server.proc.wait(10)
        row = row_on(fast, info["port"], 1)
        assert row.pid == info["child"] and row.process.name == "sleep"
    finally:
        os.kill(info["child"], signal.SIGKILL)


def test_a_socket_passed_with_scm_rights_to_an_unrelated_process(fast, start, tmp_path):
    path = str(tmp_path / "pass.sock")
    sender = start(SENDER, path)
    port = sender.read()["port"]
    # The receiver must start at least one clock tick later: then "oldest" is well defined.
    owners = OwnerMap()
    started = owners._read_start(sender.pid)
    deadline = time.monotonic() + DEADLINE
    while ticks_since_boot() <= (started or 0) + 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    receiver = start(RECEIVER, path)
    assert receiver.read() == {"received": port}
    assert sender.read() == {"sent": True}
    row = row_on(fast, port, 2)
    # Siblings (neither is the other's parent): the oldest is the owner.
    assert row.pid == sender.pid
    assert {pid for pid, _ in row.holders} == {sender.pid, receiver.pid}
    sender.stop()
    row = row_on(fast, port, 1)
    assert row.pid == receiver.pid
