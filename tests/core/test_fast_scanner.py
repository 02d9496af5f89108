"""The Linux fast path (sock_diag + kept owner map) reports exactly what the psutil path reports.

Every comparison is restricted to ports this test opened, so listeners that other programs open
and close meanwhile cannot make it flaky. The fast scanner is kept across steps (its caches are
what is being tested); the psutil path is asked afresh each time.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from portwatch.core.model import Proto
from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES
from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.scanner import ListenerScanner
from portwatch.core.probe.sockdiag import SockDiag, SockDiagError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the fast path is Linux's")

REPO = Path(__file__).resolve().parents[2]


def _ours(pid: int | None) -> bool:
    """A socket of this test: no owner, this process or one of its descendants. Another
    program (a load test on 127.0.0.1 and ::1) may hold the same port number with the other
    protocol or family."""
    if pid is None or pid == os.getpid():
        return True
    try:
        return any(parent.pid == os.getpid() for parent in psutil.Process(pid).parents())
    except psutil.Error:
        return False


def rows(snapshot, ports):
    return {
        (item.proto, item.family, item.address, item.port, item.pid, item.owner_hidden)
        for item in snapshot.listeners if item.port in ports and _ours(item.pid)
    }


def compare(fast: ListenerScanner, ports) -> set:
    """Scan with both paths; assert they agree on our ports; return the fast path's rows.

    psutil names one holder of a shared socket (the highest pid), the fast path the owner a
    person means and every holder: they agree when psutil's pid is among the holders of a
    socket on the same endpoint, and both have as many rows."""
    snapshot = fast.scan()
    got = rows(snapshot, ports)
    assert fast.backend == "netlink", fast.fallback_reason
    expected = rows(ListenerScanner(fast=False).scan(), ports)
    holders: dict[tuple, list[set]] = {}
    for item in snapshot.listeners:
        if item.port in ports and _ours(item.pid):
            endpoint = (item.proto, item.family, item.address, item.port, item.owner_hidden)
            holders.setdefault(endpoint, []).append({pid for pid, _ in item.holders})
    assert len(got) == len(expected), (got, expected)
    for proto, family, address, port, pid, hidden in expected:
        known = holders.get((proto, family, address, port, hidden))
        assert known is not None, (got, expected)
        assert pid is None or any(pid in pids for pids in known), (got, expected)
    return got


def pids_on(found: set, port: int) -> set:
    return {row[4] for row in found if row[3] == port}


def listening(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1", port=0,
              reuseport=False) -> socket.socket:
    sock = socket.socket(family, kind)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen()
    return sock


# A child that inherits fds: it answers "close N" (closes its copy of fd N) and "bind PORT"
# (binds its own SO_REUSEPORT listener) on stdin, and stays until stdin closes.
HOLDER = textwrap.dedent(
    """
    import os, socket, sys
    keep = []
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, arg = line.split()
        if cmd == "close":
            os.close(int(arg))
        elif cmd == "bind":
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", int(arg)))
            s.listen()
            keep.append(s)
            print("done", os.fstat(s.fileno()).st_ino, flush=True)
            continue
        print("done", flush=True)
    """
)


class Holder:
    """A child process started with some of our fds (loopback sockets), ended by its PID."""

    def __init__(self, *fds: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER], pass_fds=fds,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self, command: str) -> list[str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        assert answer[:1] == ["done"]
        return answer[1:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(*fds: int) -> Holder:
        holder = Holder(*fds)
        started.append(holder)
        return holder

    yield start
    for holder in started:
        holder.stop()


@pytest.fixture
def fast():
    scanner = ListenerScanner()
    yield scanner
    scanner.close()


def test_tcp_udp_ipv4_ipv6_of_this_and_other_processes(fast, listener_factory):
    mine = [listening(), listening(kind=socket.SOCK_DGRAM)]
    with contextlib.suppress(OSError):  # no IPv6 here: the IPv4 half still compares
        mine += [listening(socket.AF_INET6, host="::1"),
                 listening(socket.AF_INET6, socket.SOCK_DGRAM, host="::1")]
    children = [listener_factory("tcp"), listener_factory("udp")]
    ports = {s.getsockname()[1] for s in mine} | {c.port for c in children}
    try:
        found = compare(fast, ports)
        assert len(found) == len(ports)
        for child in children:
            assert pids_on(found, child.port) == {child.pid}
        assert all(pids_on(found, s.getsockname()[1]) == {os.getpid()} for s in mine)
        assert compare(fast, ports) == found  # the second scan comes from the caches
    finally:
        for sock in mine:
            sock.close()


def test_socket_passed_to_a_child_that_parent_keeps_too(fast, holders):
    with listening() as sock:
        port = sock.getsockname()[1]
        assert pids_on(compare(fast, {port}), port) == {os.getpid()}
        child = holders(sock.fileno())  # inherits the listener; we keep our copy
        found = compare(fast, {port})
        # One socket held by two processes: the owner is the parent (psutil would name the
        # highest pid, the child), and both are holders.
        assert pids_on(found, port) == {os.getpid()}
        assert len(found) == 1
        (row,) = [item for item in fast.scan().listeners if item.port == port]
        assert row.holders[0].pid == os.getpid()
        assert {pid for pid, _ in row.holders} == {os.getpid(), child.pid}


def test_a_first_search_finds_every_holder_of_a_shared_socket(holders):
    """Cold, the walk goes from the highest pid down, so the child that inherited our listener
    is usually met before this process: a walk that stopped at the first holder found would
    name the child the owner and miss the parent."""
    with listening() as sock:
        inode = os.fstat(sock.fileno()).st_ino
        child = holders(sock.fileno())
        for owners in (OwnerMap(), OwnerMap()):
            found = owners.resolve({inode})
            assert found[inode] == os.getpid()
            assert set(owners.holders(inode)) == {os.getpid(), child.pid}
            assert owners.stats.searched >= 2
        unknown = 1  # an inode nobody holds: the later search for it may stop early again
        owners.resolve({inode, unknown})
        assert set(owners.holders(inode)) == {os.getpid(), child.pid}


def test_owner_changes_when_parent_closes_its_copy(fast, holders):
    sock = listening()
    port = sock.getsockname()[1]
    child = holders(sock.fileno())
    compare(fast, {port})
    sock.close()  # the child keeps the socket alive
    assert pids_on(compare(fast, {port}), port) == {child.pid}


def test_owner_changes_when_child_closes_its_copy(fast, holders):
    with listening() as sock:
        port = sock.getsockname()[1]
        compare(fast, {port})
        child = holders(sock.fileno())
        compare(fast, {port})
        child.ask(f"close {sock.fileno()}")  # the child lives on without it
        assert pids_on(compare(fast, {port}), port) == {os.getpid()}


def test_an_owner_that_exits_is_not_reported_again(fast, holders, listener_factory):
    alone = listener_factory("tcp")
    with listening() as shared:
        port = shared.getsockname()[1]
        child = holders(shared.fileno())
        ports = {alone.port, port}
        found = compare(fast, ports)
        assert pids_on(found, alone.port) == {alone.pid}
        alone.stop()
        child.stop()
        found = compare(fast, ports)
        assert not pids_on(found, alone.port)
        assert pids_on(found, port) == {os.getpid()}  # back to the remaining holder


def test_reuseport_workers_each_with_their_own_socket(fast, holders):
    with listening(reuseport=True) as first:
        port = first.getsockname()[1]
        worker = holders()
        worker.ask(f"bind {port}")
        assert pids_on(compare(fast, {port}), port) == {os.getpid(), worker.pid}


def test_a_new_listener_in_a_known_process_is_found_without_walking_everything(fast):
    with listening() as first:
        compare(fast, {first.getsockname()[1]})
        owners = {item.pid for item in fast.scan().listeners}
        with listening() as second:
            port = second.getsockname()[1]
            assert pids_on(rows(fast.scan(), {port}), port) == {os.getpid()}
            # We changed (one more fd), ran, and owned a listener before: searched among the
            # first, and the search stops there rather than reading every process.
            live = [name for name in os.listdir("/proc") if name.isdigit()]
            assert 1 <= fast.walk_stats.searched < len(live) - len(owners)
            compare(fast, {port})


def _pass_away(sock: socket.socket) -> tuple[socket.socket, socket.socket]:
    """Put sock in flight over a unix socket pair: then no process holds it."""
    left, right = socket.socketpair()
    fds = array.array("i", [sock.fileno()])
    left.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    sock.close()
    return left, right


def _take_back(right: socket.socket) -> socket.socket:
    _, ancillary, _, _ = right.recvmsg(1, socket.CMSG_SPACE(4))
    fds = array.array("i")
    fds.frombytes(ancillary[0][2])
    return socket.socket(fileno=fds[0])


def test_a_socket_no_process_holds_is_hidden_on_both_paths(fast):
    sock = listening()
    port = sock.getsockname()[1]
    left, right = _pass_away(sock)
    try:
        found = compare(fast, {port})
        assert {(row[4], row[5]) for row in found} == {(None, True)}
    finally:
        _take_back(right).close()
        left.close()
        right.close()


def test_orphans_are_not_searched_every_scan_but_are_rechecked():
    now = [0.0]
    owners = OwnerMap(orphan_recheck=60.0, clock=lambda: now[0])
    with SockDiag() as diag:
        sock = listening()
        port = sock.getsockname()[1]
        inode = os.fstat(sock.fileno()).st_ino

        def resolve():
            # Only this test's socket: a listener another program opens meanwhile would
            # rightly cause a search of its own and make the count below meaningless.
            mine = {item.inode for item in diag.listeners()} & {inode}
            return owners.resolve(mine).get(inode)

        assert resolve() == os.getpid()
        left, right = _pass_away(sock)
        assert resolve() is None
        assert owners.stats.searched > 0  # looked everywhere once
        assert resolve() is None
        assert owners.stats.searched == 0  # ...and not again on the next scan
        back = _take_back(right)  # an old process holds it again, at another fd
        now[0] += 61
        assert resolve() == os.getpid()
        for item in (back, left, right):
            item.close()
        assert port


def test_fallback_to_psutil_when_netlink_fails_at_first(monkeypatch, caplog, listener_factory):
    def refuse(self):
        raise SockDiagError(93, "Protocol not supported")

    monkeypatch.setattr(SockDiag, "listeners", refuse)
    child = listener_factory("tcp")
    scanner = ListenerScanner()
    with caplog.at_level("INFO", logger="portwatch"):
        snapshot = scanner.scan()
    assert scanner.backend == "psutil"
    assert "sock_diag" in scanner.fallback_reason
    assert "sock_diag" in caplog.text
    assert any(item.pid == child.pid for item in snapshot.listeners if item.port == child.port)


def test_a_later_netlink_failure_costs_one_psutil_scan(monkeypatch, listener_factory):
    child = listener_factory("tcp")
    scanner = ListenerScanner()
    scanner.scan()
    real = SockDiag.listeners
    monkeypatch.setattr(SockDiag, "listeners",
                        lambda self: (_ for _ in ()).throw(SockDiagError(105, "No buffer space")))
    assert rows(scanner.scan(), {child.port})
    assert scanner.backend == "psutil"
    monkeypatch.setattr(SockDiag, "listeners", real)
    assert rows(scanner.scan(), {child.port})
    assert scanner.backend == "netlink"


UNPRIVILEGED_COMPARE = textwrap.dedent(
    """
    import json, socket, sys
    sys.path.insert(0, sys.argv[1])
    from portwatch.core.probe.scanner import ListenerScanner
    ports = {tuple(p.split(":")) for p in sys.argv[2:]}  # (proto, port) on 127.0.0.1
    own = socket.socket()
    own.bind(("127.0.0.1", 0))
    own.listen()
    ports.add(("tcp", str(own.getsockname()[1])))
    def rows(snap):
        return sorted([l.proto.value, l.family.value, l.address, l.port, l.pid, l.owner_hidden,
                       l.hidden_reason] for l in snap.listeners
                      if (l.proto.value, str(l.port)) in ports and l.address == "127.0.0.1")
    fast = ListenerScanner()
    print(json.dumps({"backend": fast.backend, "fast": rows(fast.scan()),
                      "again": rows(fast.scan()),
                      "psutil": rows(ListenerScanner(fast=False).scan()),
                      "own": own.getsockname()[1]}))
    """
)




def test_unprivileged_fast_path_matches_psutil(listener_factory, nobody_copy):
    from nobody import run_as_nobody

    roots = [listener_factory("tcp"), listener_factory("udp")]
    result = run_as_nobody(nobody_copy, ["-c", UNPRIVILEGED_COMPARE, str(nobody_copy),
                                         *(f"{child.proto}:{child.port}" for child in roots)],
                           timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["backend"] == "netlink"
    assert out["fast"] == out["psutil"] == out["again"]
    hidden = [row for row in out["fast"] if row[3] in {c.port for c in roots}]
    assert len(hidden) == 2
    assert all(row[4] is None and row[5] is True and row[6] == HIDDEN_NEEDS_PRIVILEGES
               for row in hidden)
    (own,) = [row for row in out["fast"] if row[3] == out["own"]]
    assert own[4] is not None and own[5] is False
    assert Proto.TCP.value == own[0]


def test_a_socket_closed_before_its_owner_is_searched_costs_no_walk():
    """Only this test's own socket is asked about: other processes' listeners opening,
    closing or losing their owner between the two calls (a loaded machine) would each cost a
    search of their own and say nothing about the closed socket."""
    owners = OwnerMap()
    with listening() as sock:
        mine = os.fstat(sock.fileno()).st_ino
        owners.resolve({mine})
        unknown = 1  # an inode that no socket has: as if it closed right after the dump
        found = owners.resolve({mine, unknown}, still_open=lambda: {mine})
        assert owners.vanished == {unknown}
        assert owners.stats.searched == 0
        assert found[mine] == os.getpid()
        # Without still_open the same question costs a walk of the processes: the check
        # above is what spared it.
        owners.resolve({mine, unknown})
        assert owners.stats.searched > 0 and owners.vanished == set()


# -- the owner map saved by one process and restored by the next (portwatch list) ----------------

def test_a_saved_owner_map_makes_the_next_scan_warm_and_still_right(tmp_path, holders):
    """Rows are this test's sockets by inode, on a loopback address of its own: another
    program (a standard load's thousands of listeners on 127.0.0.1 and ::1) may hold the same
    port number on another address or protocol, or take the port closed_later gives back."""
    cache = tmp_path / "owner-map.json"
    host = f"127.{os.getpid() >> 16 & 255}.{os.getpid() >> 8 & 255}.{os.getpid() & 255 or 1}"
    with listening(host=host) as kept, listening(host=host) as closed_later:
        inodes = {os.fstat(s.fileno()).st_ino: s.getsockname()[1] for s in (kept, closed_later)}

        def mine(snapshot) -> dict[int, object]:
            return {item.inode: item for item in snapshot.listeners
                    if item.inode in inodes and (item.address, item.port)
                    == (host, inodes[item.inode])}

        first = ListenerScanner(owner_cache=cache)
        expected = mine(first.scan())
        first.close()
        assert cache.stat().st_mode & 0o777 == 0o600
        closed_later.close()  # changes between the runs...
        child = holders(kept.fileno())  # ...a process started since inherits a listener
        warm = ListenerScanner(owner_cache=cache)
        try:
            found = mine(warm.scan())
            assert warm.walk_stats.new >= 1  # the child, started after the save, was read
            psutil_rows = [(item.port, item.pid)
                           for item in ListenerScanner(fast=False).scan().listeners
                           if item.proto is Proto.TCP and item.address == host]
        finally:
            warm.close()
        assert {item.pid for item in expected.values()} == {os.getpid()}
        assert len(expected) == 2 and set(found) == {os.fstat(kept.fileno()).st_ino}
        (row,) = found.values()
        assert row.pid == os.getpid()  # the parent, not the child it forked
        assert {pid for pid, _ in row.holders} == {os.getpid(), child.pid}
        # psutil agrees: one row (it names one holder of the shared socket, one of ours).
        ((port, pid),) = psutil_rows
        assert port == kept.getsockname()[1] and pid in {os.getpid(), child.pid}


def test_a_restored_map_searches_nothing_it_already_knows():
    with listening() as one, listening() as two:
        inodes = {os.fstat(s.fileno()).st_ino for s in (one, two)}
        cold = OwnerMap()
        assert set(cold.resolve(inodes).values()) == {os.getpid()}
        assert cold.stats.searched > 0
        warm = OwnerMap()
        assert warm.restore(cold.saved())
        assert dict(warm.resolve(inodes)) == dict(cold.resolve(inodes))
        assert warm.stats.searched == 0
        assert warm.stats.verified == 2  # every remembered link re-read once


def test_a_wrong_saved_claim_is_refuted_not_believed(tmp_path):
    with listening() as sock:
        port = sock.getsockname()[1]
        inode = os.fstat(sock.fileno()).st_ino
        owners = OwnerMap()
        owners.resolve({inode})
        saved = owners.saved()
        liar = os.getppid()  # a live process that does not hold our socket
        saved["holders"] = [[inode, liar, 3]]
        saved["starts"][str(liar)] = OwnerMap()._read_start(liar)
        restored = OwnerMap()
        assert restored.restore(saved)
        assert restored.resolve({inode}).get(inode) == os.getpid()
        assert port


def test_a_saved_map_from_another_boot_or_malformed_is_ignored():
    saved = OwnerMap().saved()
    assert OwnerMap().restore(saved)
    assert not OwnerMap().restore({**saved, "boot": "another boot"})
    assert not OwnerMap().restore({**saved, "holders": [["x", "y"]]})
    assert not OwnerMap().restore({**saved, "holders": {"1": [[2, 3]]}})
    assert not OwnerMap().restore(["not", "a", "map"])


def test_a_saved_map_others_could_write_is_not_read(tmp_path):
    from portwatch.core.probe.owner_cache import read_saved, write_saved

    path = tmp_path / "owner-map.json"
    write_saved(path, OwnerMap().saved())
    assert read_saved(path) is not None
    path.chmod(0o666)
    assert read_saved(path) is None
    path.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert read_saved(link) is None  # never through a symlink
    path.write_text("{not json")
    assert read_saved(path) is None


def test_a_first_listener_in_an_old_process_is_searched_for_among_the_changed_ones(holders):
    child = holders()  # an old process by the next scan, that never held a listener...
    quiet = [holders() for _ in range(8)]  # ...and newer ones (higher pids) that stay as they are
    with listening() as mine:
        owners = OwnerMap()
        ours = os.fstat(mine.fileno()).st_ino
        owners.resolve({ours})  # cold: reads processes from the highest pid down
        (inode,) = (int(word) for word in child.ask("bind 0"))
        found = owners.resolve({ours, inode})
        assert found[inode] == child.pid
        # Its number of fds changed since it was read, theirs did not: it is searched before
        # them, although a walk from the highest pid down would meet them first.
        assert owners.stats.searched < len(quiet)


def test_list_creates_no_directory_for_its_owner_map(tmp_path):
    missing = tmp_path / "not-yet" / "owner-map.json"
    scanner = ListenerScanner(owner_cache=missing)
    scanner.scan()
    scanner.close()
    assert not missing.parent.exists()
