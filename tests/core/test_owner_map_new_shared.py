"""A listener a known process opens and shares with a child it forks right after has both holders
and the parent as owner on every warm path, as a cold full scan and the psutil path say.

The warm paths (a scanner's next poll, a new scanner or `portwatch list` restoring a saved owner
map) read the new child first (it is new, and its pid is higher): finding the socket there must
not end the search before the parent that opened it is read, or the worker would be shown
instead of the server and the holders would be incomplete. A parent that held a socket before
a child made it listen is found though it did not run since: it is the holder's parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from children import end_child
from test_owner_map_restore import resting, wait_for

from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.scanner import ListenerScanner
from portwatch.core.probe.sockdiag import SockDiag

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the owner map reads /proc")

# Prints "ready"; on "listen" binds a new listener on argv[1], port 0, and prints its port and
# inode; on "fork" forks a child that keeps every socket (it prints the child's pid) and stays
# until the parent ends (the pipe's write end closes); on "share" binds a socket without
# listening, prints its port and inode, and forks a child that listens on it at SIGUSR1 (the
# child prints "armed" then); the parent ends when stdin closes.
PARENT = textwrap.dedent(
    """
    import os, signal, socket, sys
    read_end, write_end = os.pipe()
    held = []
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("listen"):
            s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(); held.append(s)
            print(s.getsockname()[1], os.fstat(s.fileno()).st_ino, flush=True)
        elif line.startswith("fork"):
            child = os.fork()
            if child == 0:
                os.close(write_end)
                os.read(read_end, 1)  # until the parent ends
                os._exit(0)
            print(child, flush=True)
        elif line.startswith("share"):
            s = socket.socket(); s.bind((sys.argv[1], 0)); held.append(s)
            print(s.getsockname()[1], os.fstat(s.fileno()).st_ino, flush=True)
            if os.fork() == 0:
                os.close(write_end)
                signal.signal(signal.SIGUSR1, lambda *args: s.listen())
                print("armed", os.getpid(), flush=True)
                os.read(read_end, 1)  # until the parent ends
                os._exit(0)
    """
)

HOST = f"127.{os.getpid() >> 16 & 255}.{os.getpid() >> 8 & 255}.{os.getpid() & 255 or 1}"


class Parent:
    """The process P of these tests and the children it forks, ended by their PIDs."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PARENT, HOST], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        self.children: list[int] = []
        assert self._ask(None) == "ready"

    def _ask(self, line: str | None) -> str:
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def listen(self) -> tuple[int, int]:
        """(port, inode) of a new listener on HOST."""
        port, inode = self._ask("listen").split()
        return int(port), int(inode)

    def fork(self) -> int:
        child = int(self._ask("fork"))
        self.children.append(child)
        return child

    def share(self) -> tuple[int, int, int]:
        """(port, inode, child) of a socket bound, not listening, and shared with a new child
        that listens on it at SIGUSR1."""
        port, inode = self._ask("share").split()
        armed, child = self._ask(None).split()
        assert armed == "armed"
        self.children.append(int(child))
        return int(port), int(inode), int(child)

    def stop(self) -> None:
        self.proc.stdin.close()  # the parent ends, then its children (their pipe closes)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        end_child(self.proc)
        self.proc.stdout.close()
        for child in self.children:  # ours: by PID, should one have outlived its parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


@pytest.fixture
def parent():
    started = Parent()
    yield started
    started.stop()


def row(snapshot, port: int, inode: int):
    (found,) = [item for item in snapshot.listeners
                if (item.address, item.port, item.inode) == (HOST, port, inode)]
    return found


def check(found, parent: Parent, child: int, port: int, inode: int) -> None:
    """The parent owns it, both hold it: as a cold full scan and the psutil path say."""
    assert found.pid == parent.pid, (found.pid, found.holders)
    assert {pid for pid, _ in found.holders} == {parent.pid, child}
    cold = OwnerMap()
    assert cold.resolve({inode})[inode] == parent.pid
    assert cold.holders(inode) == (parent.pid, child)
    portable = [item.pid for item in ListenerScanner(fast=False).scan().listeners
                if (item.address, item.port) == (HOST, port)]
    assert len(portable) == 1 and portable[0] in {parent.pid, child}  # psutil names one


@pytest.mark.parametrize("already_owner", [False, True], ids=["first-listener", "former-owner"])
def test_the_next_poll_reads_the_parent_after_finding_the_socket_in_its_new_child(
        parent, already_owner):
    scanner = ListenerScanner()
    try:
        if already_owner:
            parent.listen()
        scanner.scan()  # the parent is known: its fds were read
        port, inode = parent.listen()
        child = parent.fork()  # forked before the scanner reads the parent's fds again
        found = row(scanner.scan(), port, inode)
        assert scanner.backend == "netlink", scanner.fallback_reason
        assert scanner.walk_stats.completed >= 1  # found in the child, then the parent read
    finally:
        scanner.close()
    check(found, parent, child, port, inode)


def test_a_child_forked_after_the_parent_was_read_again_is_added(parent):
    scanner = ListenerScanner()
    try:
        scanner.scan()
        port, inode = parent.listen()
        assert row(scanner.scan(), port, inode).pid == parent.pid
        child = parent.fork()
        found = row(scanner.scan(), port, inode)
    finally:
        scanner.close()
    check(found, parent, child, port, inode)


def test_a_socket_a_child_starts_listening_on_has_its_idle_parent_as_owner(parent):
    """The parent held the socket before it listened and has not run since it was read: no run
    time tells it gained anything, its being the holder's parent does."""
    scanner = ListenerScanner()
    try:
        port, inode, child = parent.share()
        wait_for(lambda: resting(parent.pid) and resting(child), "the pair waits")
        scanner.scan()  # both are read while the socket does not listen
        os.kill(child, signal.SIGUSR1)  # our own test's process, by its PID
        diag = SockDiag()
        try:
            wait_for(lambda: any(item.inode == inode for item in diag.listeners()),
                     "the child listens")
        finally:
            diag.close()
        found = row(scanner.scan(), port, inode)
    finally:
        scanner.close()
    check(found, parent, child, port, inode)


def test_a_restored_owner_map_reads_the_parent_too(parent, tmp_path):
    cache = tmp_path / "owner-map.json"
    first = ListenerScanner(owner_cache=cache)
    first.scan()  # saved: the parent is known
    first.close()
    port, inode = parent.listen()
    child = parent.fork()
    warm = ListenerScanner(owner_cache=cache)
    try:
        found = row(warm.scan(), port, inode)
        assert warm.walk_stats.new >= 1  # warm: the child, started after the save, was new
        assert warm.walk_stats.completed >= 1  # ...and the parent read after it
        # not every process: the saved map's run times say which ones did not run since (a
        # machine runs far fewer than half of its processes in a moment)
        assert warm.walk_stats.completed < len(os.listdir("/proc")) // 2
    finally:
        warm.close()
    check(found, parent, child, port, inode)


def test_list_restoring_its_saved_owner_map_reads_the_parent_too(parent):
    env = dict(os.environ, PORTWATCH_NO_SAVED_ANSWER="1")  # the owner map, not a kept answer

    def listed() -> list[dict]:
        done = subprocess.run([sys.executable, "-m", "portwatch", "list", "--json"],
                              capture_output=True, text=True, timeout=120, check=False, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    listed()  # saves owner-map-<uid>.json in the test's data directory
    assert any(name.startswith("owner-map-") for name in os.listdir(os.environ[
        "PORTWATCH_DATA_DIR"]))
    port, inode = parent.listen()
    child = parent.fork()
    (found,) = [item for item in listed() if (item["address"], item["port"]) == (HOST, port)]
    assert found["pid"] == parent.pid, found
    assert {holder["pid"] for holder in found["holders"]} == {parent.pid, child}
    assert found["holders"][0]["pid"] == parent.pid  # the owner first
    cold = OwnerMap()
    assert cold.resolve({inode})[inode] == parent.pid
