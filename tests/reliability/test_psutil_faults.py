"""psutil faults at the scanner's boundary, injected and real: a scan never raises for them,
never attributes a socket to the wrong process, and keeps every other row intact.

Both scanner paths are covered: the portable path over a scripted psutil (FakePsutil), the
netlink path over real sockets with faults injected into its process reads (FaultyPsutil) and
its owner map (FaultyOwners). Real faults: a listener process killed right after the listing,
a zombie child its parent never waits for, a listener held by a process whose child is a zombie.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from rel_common import tally
from rel_faults import FakeProc, FakePsutil, FaultyOwners, FaultyPsutil, tcp_listen, udp_bound

from portwatch.core.model import Proto
from portwatch.core.monitor import Monitor
from portwatch.core.probe.hidden import HIDDEN_NEEDS_PRIVILEGES, HIDDEN_NO_PROCESS
from portwatch.core.probe.scanner import ListenerScanner

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="netlink is Linux's")


def by_port(snapshot, port: int, proto: Proto = Proto.TCP):
    """Rows on 127.0.0.1:port (where every test listener binds; another program may hold
    the same port number on ::1 or with the other protocol)."""
    return [item for item in snapshot.listeners
            if item.port == port and item.proto is proto and item.address == "127.0.0.1"]


def healthy(pid: int, port: int, name: str = "healthy") -> FakeProc:
    return FakeProc(pid, name, sockets=[tcp_listen(port, pid)], exe=f"/usr/bin/{name}",
                    cmdline=(name,))


def count(world) -> None:
    tally("psutil faults injected", world.injected)


# -- the portable path over a scripted psutil -------------------------------------------------


@pytest.mark.parametrize("kind", ["gone", "zombie"])
@pytest.mark.parametrize("attr", ["process", "create_time", "name", "exe", "cmdline", "username"])
def test_a_process_that_is_gone_when_its_details_are_read_is_dropped(kind, attr):
    """Vanished (NoSuchProcess) or a zombie (ZombieProcess, which holds no sockets), at any
    point of reading its details: its sockets went with it; the other rows are untouched."""
    victim = FakeProc(200, "victim", sockets=[tcp_listen(2000, 200)], faults={attr: kind})
    world = FakePsutil([healthy(100, 1000), victim])
    snapshot = ListenerScanner(world).scan()
    count(world)
    assert world.injected >= 1
    assert not by_port(snapshot, 2000)
    (kept,) = by_port(snapshot, 1000)
    assert kept.process.name == "healthy" and kept.process.exe == "/usr/bin/healthy"
    assert not snapshot.problems


@pytest.mark.parametrize("attrs", [("exe",), ("cmdline",), ("username",),
                                   ("exe", "cmdline", "username"), ("name",), ("ppid",)])
def test_access_denied_details_keep_the_row_with_what_could_be_read(attrs):
    proc = FakeProc(300, "secretive", sockets=[tcp_listen(3000, 300)],
                    faults={attr: "denied" for attr in attrs})
    world = FakePsutil([proc])
    (row,) = by_port(ListenerScanner(world).scan(), 3000)
    count(world)
    info = row.process
    assert row.pid == 300 and not row.owner_hidden
    assert info.create_time == proc.create_time
    assert info.exe == (None if "exe" in attrs else proc.exe)
    assert info.cmdline == (() if "cmdline" in attrs else proc.cmdline)
    assert info.user == (None if "username" in attrs else proc.username)
    assert info.name == ("?" if "name" in attrs else proc.name)
    assert info.ppid == (None if "ppid" in attrs else proc.ppid)


@pytest.mark.parametrize("kind", ["oserror", "psutil-error"])
def test_an_unexpected_error_reading_one_process_costs_its_details_not_the_scan(kind):
    """An OSError (EIO from /proc) or psutil's generic Error for one process: the scan goes
    on, that socket is kept with the pid and an unknown name, never with another's details."""
    odd = FakeProc(400, "odd", sockets=[tcp_listen(4000, 400)], faults={"cmdline": kind})
    world = FakePsutil([healthy(100, 1000), odd])
    snapshot = ListenerScanner(world).scan()
    count(world)
    (row,) = by_port(snapshot, 4000)
    assert row.pid == 400 and row.process.cmdline == ()  # the attribute that failed
    assert row.process.name == "odd" and row.process.exe == odd.exe  # the rest is kept
    assert by_port(snapshot, 1000)[0].process.name == "healthy"


def test_a_reused_pid_gets_fresh_details_not_the_cached_ones():
    old = FakeProc(500, "old-server", create_time=1000.0, exe="/usr/bin/old",
                   sockets=[tcp_listen(5000, 500)])
    world = FakePsutil([old])
    scanner = ListenerScanner(world)
    (first,) = by_port(scanner.scan(), 5000)
    (again,) = by_port(scanner.scan(), 5000)
    assert again.process is first.process  # same (pid, start time): cached
    world.procs[500] = FakeProc(500, "impostor", create_time=2000.0, exe="/tmp/impostor",
                                sockets=[tcp_listen(5000, 500)])
    (reused,) = by_port(scanner.scan(), 5000)
    assert reused.process.name == "impostor"
    assert reused.process.exe == "/tmp/impostor"
    assert reused.process.create_time == 2000.0
    tally("psutil faults injected")  # the reuse itself


def test_a_reused_pid_whose_start_time_is_denied_is_not_served_from_the_cache():
    """Without a readable start time the scanner cannot tell a reused pid: it must read the
    details again rather than trust what it cached for that number."""
    world = FakePsutil([FakeProc(510, "first", faults={"create_time": "denied"},
                                 sockets=[tcp_listen(5100, 510)])])
    scanner = ListenerScanner(world)
    assert by_port(scanner.scan(), 5100)[0].process.name == "first"
    world.procs[510] = FakeProc(510, "second", faults={"create_time": "denied"},
                                sockets=[tcp_listen(5100, 510)])
    assert by_port(scanner.scan(), 5100)[0].process.name == "second"
    count(world)


@pytest.mark.parametrize("attr", ["process", "create_time"])
def test_faults_that_clear_give_full_details_at_the_next_scan(attr):
    """A process that could not be identified (no start time) is read again at every scan, so
    a passing fault does not stick. (A fault in one other attribute of an identified process
    keeps that attribute unknown while the process runs: details are cached by pid and start
    time.)"""
    flaky = FakeProc(600, "flaky", sockets=[tcp_listen(6000, 600)], faults={attr: "oserror"})
    world = FakePsutil([flaky])
    scanner = ListenerScanner(world)
    first = by_port(scanner.scan(), 6000)[0].process
    assert first.pid == 600 and first.create_time is None
    flaky.faults.clear()
    again = by_port(scanner.scan(), 6000)[0].process
    assert (again.name, again.exe, again.create_time) == ("flaky", flaky.exe, flaky.create_time)
    count(world)


def test_denied_socket_listing_falls_back_to_each_process_and_says_what_is_missing():
    """The macOS case: net_connections() needs root; each visible process is asked for its
    own sockets, and the ones that refuse or vanish are counted, not fatal."""
    denied = FakeProc(710, "root-daemon", sockets=[tcp_listen(7100, 710)],
                      faults={"net_connections": "denied"})
    gone = FakeProc(720, "short-lived", sockets=[tcp_listen(7200, 720)],
                    faults={"net_connections": "gone"})
    world = FakePsutil([healthy(700, 7000), denied, gone])
    world.net_fault = "denied"
    snapshot = ListenerScanner(world).scan()
    count(world)
    assert by_port(snapshot, 7000)[0].process.name == "healthy"
    assert not by_port(snapshot, 7100) and not by_port(snapshot, 7200)
    (problem,) = snapshot.problems
    assert "1 processes could not be inspected without administrator rights" in problem
    assert "sudo" in problem


def test_a_failed_socket_listing_is_a_partial_snapshot_with_a_reason():
    world = FakePsutil([healthy(100, 1000)])
    world.net_fault = "oserror"
    snapshot = ListenerScanner(world).scan()
    count(world)
    assert snapshot.listeners == ()
    assert snapshot.partial
    assert snapshot.problems[0].startswith("could not list sockets")


def test_hidden_owners_are_rows_with_a_reason_not_errors():
    world = FakePsutil([healthy(100, 1000)], extra_conns=[tcp_listen(25, None, "0.0.0.0"),
                                                          udp_bound(53, None)])
    snapshot = ListenerScanner(world).scan()
    hidden = [row for row in snapshot.listeners if row.owner_hidden]
    assert {(row.proto, row.port) for row in hidden} == {(Proto.TCP, 25), (Proto.UDP, 53)}
    reason = HIDDEN_NO_PROCESS if os.geteuid() == 0 else HIDDEN_NEEDS_PRIVILEGES
    assert all(row.pid is None and row.hidden_reason == reason for row in hidden)


def test_a_storm_of_mixed_faults_over_many_polls_never_raises_and_never_misattributes():
    """200 processes, each poll a different third of them faulty (every kind, every
    attribute): every row is either dropped or carries its own process's facts."""
    import random

    rng = random.Random(9)
    procs = [FakeProc(1000 + i, f"p{i}", exe=f"/usr/bin/p{i}", cmdline=(f"p{i}", str(i)),
                      sockets=[tcp_listen(10000 + i, 1000 + i)]) for i in range(200)]
    world = FakePsutil(procs)
    monitor = Monitor(ListenerScanner(world).scan)
    kinds = ["gone", "denied", "zombie", "oserror", "psutil-error"]
    attrs = ["process", "create_time", "name", "username", "exe", "cmdline", "ppid"]
    for _poll in range(30):
        for proc in procs:
            proc.faults = ({rng.choice(attrs): rng.choice(kinds)} if rng.random() < 0.33
                           else {})
            if rng.random() < 0.1:  # and some pids are reused by another program
                proc.create_time += 1
                proc.name = f"{proc.name.split('~')[0]}~{proc.create_time:.0f}"
        result = monitor.poll()
        for row in result.rows:
            index = row.listener.port - 10000
            assert row.listener.pid == 1000 + index
            info = row.listener.process
            assert info.name in (procs[index].name, "?")
            assert info.exe in (procs[index].exe, None)
            assert info.cmdline in (procs[index].cmdline, ())
    count(world)
    assert world.injected > 500


# -- the netlink path: real sockets, faults injected into its reads ----------------------------


@pytest.fixture
def fast_scanner():
    world = FaultyPsutil()
    scanner = ListenerScanner(world, fast=True)
    assert scanner.scan() is not None
    if scanner.backend != "netlink":
        pytest.skip(f"netlink is not usable here: {scanner.fallback_reason}")
    yield scanner, world
    scanner.close()
    count(world)


@linux_only
@pytest.mark.parametrize("kind", ["gone", "zombie"])
def test_fast_path_drops_a_process_that_is_gone_when_read(fast_scanner, listener_factory, kind):
    scanner, world = fast_scanner
    victim = listener_factory("tcp")
    other = listener_factory("tcp")
    world.faults[victim.pid] = {"process": kind}
    snapshot = scanner.scan()
    assert not [row for row in by_port(snapshot, victim.port) if row.pid is not None]
    assert by_port(snapshot, other.port)[0].pid == other.pid
    world.faults.clear()  # it was a passing fault: the next scan has the row again
    assert by_port(scanner.scan(), victim.port)[0].pid == victim.pid


@linux_only
def test_fast_path_keeps_rows_with_denied_details(fast_scanner, listener_factory):
    scanner, world = fast_scanner
    child = listener_factory("tcp")
    world.faults[child.pid] = {"exe": "denied", "cmdline": "denied", "username": "denied"}
    (row,) = by_port(scanner.scan(), child.port)
    assert row.pid == child.pid and row.process.exe is None and row.process.cmdline == ()
    assert row.process.create_time == pytest.approx(psutil.Process(child.pid).create_time())


@linux_only
def test_fast_path_refreshes_details_when_the_owner_map_sees_a_new_start_time(
        fast_scanner, listener_factory):
    scanner, world = fast_scanner
    child = listener_factory("tcp")
    (first,) = by_port(scanner.scan(), child.port)
    owners = FaultyOwners(scanner._fast.owners, world)
    scanner._fast.owners = owners
    world.names[child.pid] = "impostor"
    world.create_times[child.pid] = first.process.create_time + 50
    (same,) = by_port(scanner.scan(), child.port)
    assert same.process is first.process  # same start time as far as the map knows: cached
    owners.start_times[child.pid] = (owners._real.start_time(child.pid) or 0) + 5000
    (fresh,) = by_port(scanner.scan(), child.port)
    assert fresh.process.name == "impostor"
    assert fresh.process.create_time == first.process.create_time + 50
    tally("psutil faults injected")


@linux_only
def test_fast_path_owner_that_does_not_exist_is_dropped_not_shown(fast_scanner, listener_factory):
    """The owner map names a pid that is gone by the time its details are read."""
    scanner, world = fast_scanner
    child = listener_factory("tcp")
    inode = next(item.inode for item in scanner._fast._diag.listeners()
                 if item.port == child.port and item.proto is Proto.TCP)
    owners = FaultyOwners(scanner._fast.owners, world)
    scanner._fast.owners = owners
    ghost = 4_000_000  # above pid_max: no such process
    owners.ghost = {inode: ghost}
    snapshot = scanner.scan()
    assert not [row for row in snapshot.listeners if row.pid == ghost]
    assert not [row for row in by_port(snapshot, child.port) if row.pid is not None]


@linux_only
def test_fast_path_owner_map_failure_costs_one_portable_scan(fast_scanner, listener_factory):
    scanner, world = fast_scanner
    child = listener_factory("tcp")
    owners = FaultyOwners(scanner._fast.owners, world)
    scanner._fast.owners = owners
    owners.fail_next = "oserror"
    (row,) = by_port(scanner.scan(), child.port)
    assert scanner.backend == "psutil" and row.pid == child.pid
    (row,) = by_port(scanner.scan(), child.port)
    assert scanner.backend == "netlink" and row.pid == child.pid


@linux_only
def test_fast_path_that_fails_at_its_first_scan_falls_back_for_good_with_a_reason(
        listener_factory, monkeypatch):
    from portwatch.core.probe import sockdiag

    def refuse(self):
        raise sockdiag.SockDiagError(13, "cannot open a sock_diag socket: Permission denied")

    monkeypatch.setattr(sockdiag.SockDiag, "listeners", refuse)
    child = listener_factory("tcp")
    scanner = ListenerScanner()
    (row,) = by_port(scanner.scan(), child.port)
    assert row.pid == child.pid
    assert scanner.backend == "psutil"
    assert "netlink sock_diag is not usable here" in scanner.fallback_reason
    assert "Permission denied" in scanner.fallback_reason
    tally("psutil faults injected")


# -- real faults --------------------------------------------------------------------------------


class _KillAfterListing:
    """Wraps a listing function: right after it returns, the child is killed (SIGKILL) and
    reaped, so the process is gone before its details or owner are read."""

    def __init__(self, listing, child) -> None:
        self._listing = listing
        self._child = child

    def __call__(self, *args, **kwargs):
        found = self._listing(*args, **kwargs)
        if self._child.proc.poll() is None:
            os.kill(self._child.pid, signal.SIGKILL)  # our own child, by its pid
            self._child.proc.wait(5)
        return found


@pytest.mark.parametrize("path", ["psutil", "netlink"])
def test_real_process_killed_right_after_listing(listener_factory, path):
    if path == "netlink" and not sys.platform.startswith("linux"):
        pytest.skip("netlink is Linux's")
    survivor = listener_factory("tcp")
    victim = listener_factory("tcp")
    if path == "psutil":
        world = FaultyPsutil()
        world.net_connections = _KillAfterListing(psutil.net_connections, victim)
        scanner = ListenerScanner(world)
    else:
        scanner = ListenerScanner()
        scanner.scan()  # warm: the victim is a known owner, as in a running monitor
        if scanner.backend != "netlink":
            pytest.skip(f"netlink is not usable here: {scanner.fallback_reason}")
        diag = scanner._fast._diag
        diag.listeners = _KillAfterListing(diag.listeners, victim)
    try:
        snapshot = scanner.scan()
    finally:
        scanner.close()
    assert victim.proc.returncode is not None
    for row in by_port(snapshot, victim.port):  # dropped, or kept without an owner
        assert row.pid in (None, victim.pid)
        assert row.pid is None or row.process.name
    assert by_port(snapshot, survivor.port)[0].pid == survivor.pid
    tally("real psutil faults caused")


ZOMBIE_PARENT = textwrap.dedent(
    """
    import os, socket, sys, time
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    child = os.fork()
    if child == 0:
        s.close()
        os._exit(0)  # the child exits at once; the parent never waits: a zombie
    print(s.getsockname()[1], child, flush=True)
    sys.stdin.read()
    """
)


@pytest.mark.parametrize("fast", [False, True])
def test_real_zombies_neither_break_the_scan_nor_own_sockets(listener_factory, fast):
    if fast and not sys.platform.startswith("linux"):
        pytest.skip("netlink is Linux's")
    # 1. Our own child exits and we do not wait for it: a zombie with no sockets.
    child = listener_factory("tcp")
    scanner = ListenerScanner(fast=fast)
    assert by_port(scanner.scan(), child.port)[0].pid == child.pid
    child.proc.stdin.close()  # it returns from stdin.read() and exits; nobody reaps it yet
    deadline = time.monotonic() + 5
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child did not become a zombie"
        time.sleep(0.02)
    snapshot = scanner.scan()
    assert not [row for row in snapshot.listeners if row.pid == child.pid]
    assert not by_port(snapshot, child.port)
    # 2. A listener whose own child is a zombie: the listener is reported with its owner.
    parent = subprocess.Popen([sys.executable, "-c", ZOMBIE_PARENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        port, zombie = (int(word) for word in parent.stdout.readline().split())
        deadline = time.monotonic() + 5
        while psutil.Process(zombie).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the grandchild did not become a zombie"
            time.sleep(0.02)
        snapshot = scanner.scan()
        (row,) = by_port(snapshot, port)
        assert row.pid == parent.pid
        assert not [row for row in snapshot.listeners if row.pid == zombie]
    finally:
        parent.stdin.close()
        parent.wait(5)
        parent.stdout.close()
        scanner.close()
    tally("real psutil faults caused", 2)


def test_the_scanner_never_raises_for_a_process_table_in_flux():
    """Short-lived listener processes start and end while the scans run: real processes gone
    between listing and reading, zombies not yet reaped, pids handed out again."""
    code = ("import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
            "time.sleep(0.05)")
    scanners = [ListenerScanner(fast=False)]
    if sys.platform.startswith("linux"):
        scanners.append(ListenerScanner())
    running: list[subprocess.Popen] = []
    started = 0
    try:
        for _round in range(15):
            running += [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
            started += 4
            for scanner in scanners:
                for row in scanner.scan().listeners:
                    assert row.pid is None or row.process is not None
            running = [proc for proc in running if proc.poll() is None]  # reaps the ended
    finally:
        for proc in running:
            proc.kill()  # our own children, by pid
            proc.wait(5)
        for scanner in scanners:
            scanner.close()
    tally("real psutil faults caused", started)


def test_own_socket_is_attributed_to_this_process():
    """Sanity for the fault tests: with no faults, the scanner attributes our own socket."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        (row,) = by_port(ListenerScanner(FaultyPsutil()).scan(), sock.getsockname()[1])
        assert row.pid == os.getpid()
    finally:
        sock.close()
