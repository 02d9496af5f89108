"""`portwatch list --json` on its fast path prints what the portable, uncached path computes.

The fast path of `list` is the netlink scanner starting from the owner map an earlier run saved,
a catalog that recognises each program once (per identity and port uses, not per listener) and
a firewall read in a thread while the scan runs. The reference here is the slow path: the
psutil scanner, a fresh catalog for every listener (nothing remembered between rows) and the
firewall read before annotating. Real listener processes, some sharing one program, some of
one process each; compared on the test's own processes (other programs may come and go).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from test_exec_owner import LISTEN_THEN_EXEC  # listens, then exec()s `sleep` keeping the fd

from portwatch.commands import listing
from portwatch.core.firewall import Firewall
from portwatch.core.knowledge.catalog import load_catalog
from portwatch.core.knowledge.reach import ReachAnnotator
from portwatch.core.model import AnnotatedListener
from portwatch.core.output import records
from portwatch.core.probe.scanner import ListenerScanner, default_owner_cache

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the fast path is Linux's (netlink sock_diag)")

# One process, several listeners: 3 TCP on 127.0.0.1, 1 on ::1, 2 UDP (a server's ports).
MANY_SCRIPT = textwrap.dedent(
    """
    import socket, sys
    keep = []
    for family, kind, host in [(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")] * 3 + [
            (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
            (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"),
            (socket.AF_INET6, socket.SOCK_DGRAM, "::1")]:
        s = socket.socket(family, kind)
        s.bind((host, 0))
        if kind == socket.SOCK_STREAM:
            s.listen()
        keep.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in keep), flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def many_listeners(tmp_path):
    """Two processes of the same program (a link named redis-server to the interpreter, so the
    catalog recognises it), each holding six listeners; ended by PID."""
    named = tmp_path / "redis-server"
    os.symlink(os.path.realpath(sys.executable), named)
    started = []
    try:
        for _ in range(2):
            proc = subprocess.Popen([str(named), "-c", MANY_SCRIPT], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            started.append(proc)
            assert proc.stdout.readline().strip(), "listener child failed"
        yield [proc.pid for proc in started]
    finally:
        for proc in started:
            proc.terminate()  # our own children, by PID
            proc.wait(10)
            proc.stdin.close()
            proc.stdout.close()


def run_list() -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "portwatch", "list", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def slow_path_records(pids: set[int]) -> dict[tuple, dict]:
    """The records of `pids`' listeners by the portable path, nothing cached across rows."""
    scanner = ListenerScanner(fast=False)
    try:
        snapshot = scanner.scan()
    finally:
        scanner.close()
    firewall = Firewall()
    rows: list[AnnotatedListener] = []
    for item in snapshot.listeners:
        if item.pid in pids:  # a fresh catalog per row: no recognition is shared
            rows.append(ReachAnnotator(load_catalog(), firewall).annotate(item))
    rows = listing.with_connections(rows, firewall, peers=False)
    return {key_of(record): record for record in map(records.listener_record, rows)}


def key_of(record: dict) -> tuple:
    return record["proto"], record["family"], record["address"], record["port"], record["pid"]


def ours(rows: list[dict], pids: set[int]) -> dict[tuple, dict]:
    return {key_of(row): row for row in rows if row["pid"] in pids}


def test_fast_list_json_equals_the_portable_path(many_listeners, listener_factory):
    singles = [listener_factory("tcp", "127.0.0.1"), listener_factory("udp", "::1"),
               listener_factory("tcp", "::1")]
    pids = {*many_listeners, *(child.pid for child in singles)}
    assert not default_owner_cache().exists()
    first = ours(run_list(), pids)  # no saved owner map: the cold walk
    assert default_owner_cache().exists(), "the first run saves the owner map"
    warm = ours(run_list(), pids)  # from the saved map
    slow = slow_path_records(pids)
    assert len(slow) == 2 * 6 + 3, sorted(slow)
    assert first == slow
    assert warm == slow
    redis = [row for row in slow.values() if row["pid"] in many_listeners]
    assert all(row["likely_software"] == ["Redis"] and row["recognised_by"] == "executable"
               for row in redis), "the comparison covers recognised programs"
    assert all(row["process"] == psutil.Process(row["pid"]).name() for row in slow.values())


def test_the_recognition_cache_follows_an_exec(tmp_path):
    """One catalog annotates before and after the owner exec()s another program: the program
    is recognised again (the cache is keyed by what exec changes), not remembered."""
    named = tmp_path / "redis-server"
    os.symlink(os.path.realpath(sys.executable), named)
    proc = subprocess.Popen([str(named), "-c", LISTEN_THEN_EXEC], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    scanner = ListenerScanner()
    try:
        port = int(proc.stdout.readline())
        catalog = load_catalog()

        def row():
            (found,) = [catalog.annotate(item) for item in scanner.scan().listeners
                        if item.pid == proc.pid and item.port == port]
            return found

        before = row()
        assert [use.software for use in before.likely_uses] == ["Redis"]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while os.readlink(f"/proc/{proc.pid}/exe") == os.path.realpath(sys.executable):
            assert time.monotonic() < deadline, "the exec happens"
            time.sleep(0.02)
        after = row()
        assert after.listener.process.name == "sleep"
        assert after.likely_uses == () and after.recognised_by is None
    finally:
        scanner.close()
        proc.kill()  # our own child, by its PID
        proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()
