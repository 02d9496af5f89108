"""Listeners in other network namespaces: real `ip netns add pwtest-…` and `unshare --net`
namespaces, each with a real listener, scanned over sock_diag from inside (root only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from namespaces import named_netns, root_skip_reason, scan_until, unique

from portwatch.core.model import Exposure
from portwatch.core.probe.netns import NamespaceScanner
from portwatch.core.probe.scanner import ListenerScanner

pytestmark = pytest.mark.skipif(bool(root_skip_reason("ip", "unshare")),
                                reason=root_skip_reason("ip", "unshare") or "")


def test_a_named_namespace_is_scanned_with_its_name_and_its_own_reach(listener_factory):
    with named_netns() as name:
        child = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", name))
        scanner = ListenerScanner(all_netns=True)
        try:
            (row,) = scan_until(scanner, lambda r: r.netns == name and r.port == child.port,
                              f"the listener in {name}")
            assert row.pid == child.pid and row.process.name.startswith("python")
            # Only loopback exists in the namespace: nothing outside can connect.
            assert row.exposure is Exposure.LOOPBACK
            assert row.key.netns == name
        finally:
            scanner.close()
        host = ListenerScanner()  # the default view: this namespace only
        try:
            assert not [r for r in host.scan().listeners if r.pid == child.pid]
        finally:
            host.close()


def test_an_unshared_namespace_is_named_by_its_inode_or_owner(listener_factory):
    child = listener_factory("udp", "0.0.0.0", prefix=("unshare", "--net"))
    inode = os.stat(f"/proc/{child.pid}/ns/net").st_ino
    assert inode != os.stat("/proc/self/ns/net").st_ino
    scanner = ListenerScanner(all_netns=True)
    try:
        (row,) = scan_until(scanner, lambda r: r.pid == child.pid, "the unshared listener")
        from portwatch.core.probe.origins import Origins

        owner = Origins().describe(child.pid)  # a unit when the test itself runs in one
        assert row.netns == (owner or f"net:[{inode}]")
        assert row.port == child.port and row.proto.value == "udp"
    finally:
        scanner.close()


def test_reach_is_judged_against_the_namespace_interfaces(listener_factory):
    with named_netns("lo") as closed, named_netns("veth") as linked:
        host_end, inner_end = unique("v")[:15], unique("w")[:15]
        subprocess.run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", inner_end,
                        "netns", linked], check=True)
        try:
            subprocess.run(["ip", "-n", linked, "link", "set", inner_end, "up"], check=True)
            subprocess.run(["ip", "link", "set", host_end, "up"], check=True)
            alone = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", closed))
            wired = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", linked))
            scanner = ListenerScanner(all_netns=True)
            try:
                scan_until(scanner, lambda r: r.pid == wired.pid, "the wired listener")
                rows = {r.pid: r for r in scanner.scan().listeners}
                assert rows[alone.pid].exposure is Exposure.LOOPBACK
                assert rows[wired.pid].exposure is Exposure.ALL_INTERFACES
            finally:
                scanner.close()
        finally:
            subprocess.run(["ip", "link", "del", host_end], check=False)


def test_a_deleted_namespace_is_let_go(listener_factory):
    spaces = NamespaceScanner()
    try:
        with named_netns("gone") as name:
            child = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", name))
            deadline = time.monotonic() + 30
            while not any(space.name == name for _, space in spaces.listeners()):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            inode = os.stat(f"/run/netns/{name}").st_ino
            assert inode in spaces.entered
            child.stop()
        # The namespace is gone from /run/netns and has no process: the kept netlink
        # socket (which would keep it alive) is closed at the next scan.
        assert not any(space.inode == inode for _, space in spaces.listeners())
        assert inode not in spaces.entered
    finally:
        spaces.close()


def test_list_shows_the_host_by_default_and_every_namespace_with_all_netns(listener_factory):
    with named_netns("cli") as name:
        child = listener_factory("tcp", "0.0.0.0", prefix=("ip", "netns", "exec", name))

        def listed(*flags: str) -> list[dict]:
            result = subprocess.run([sys.executable, "-m", "portwatch", "list", "--json", *flags],
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            return [row for row in json.loads(result.stdout) if row["pid"] == child.pid]

        assert listed() == []
        (row,) = listed("--all-netns")
        assert row["netns"] == name and row["port"] == child.port
        assert row["exposure"] == "loopback" and row["unit"] is None and row["container"] is None
        table = subprocess.run([sys.executable, "-m", "portwatch", "list", "--all-netns"],
                               capture_output=True, text=True, timeout=120).stdout
        assert "NETNS" in table.splitlines()[0]
        assert any(name in line and str(child.port) in line for line in table.splitlines())


UNPRIVILEGED = """
import json, sys
sys.path.insert(0, sys.argv[1])
from portwatch.core.probe.netns import NamespaceScanner
spaces = NamespaceScanner()
rows = spaces.listeners()
print(json.dumps({"rows": len(rows), "unreadable": spaces.unreadable,
                  "problem": spaces.problem()}))
spaces.close()
"""


def test_without_privileges_it_says_how_many_namespaces_it_could_not_read(nobody_copy):
    from nobody import run_as_nobody

    with named_netns("priv"):
        result = run_as_nobody(nobody_copy, ["-c", UNPRIVILEGED, str(nobody_copy)])
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["rows"] == 0
    assert found["unreadable"] >= 1  # at least ours: /run/netns/pwtest-… exists, setns refused
    assert "could not be entered (run portwatch with sudo)" in found["problem"]
    assert found["problem"].endswith("their listeners are not shown")


LISTEN_WHEN_TOLD = """
import socket, sys
print("ready", flush=True)
sys.stdin.readline()
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


def test_an_idle_namespace_is_not_dumped_again_until_its_process_runs():
    with named_netns("idle") as name:
        child = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c",
                                  LISTEN_WHEN_TOLD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        spaces = NamespaceScanner()
        try:
            assert child.stdout.readline().strip() == "ready"
            inode = os.stat(f"/run/netns/{name}").st_ino
            spaces.listeners()
            deadline = time.monotonic() + 30
            while True:  # until its process has gone to sleep in read() (a loaded machine)
                dumped = spaces.dumps[inode]
                spaces.listeners()
                if spaces.dumps[inode] == dumped:
                    break
                assert time.monotonic() < deadline, "the child never went idle"
                time.sleep(0.05)
            for _ in range(3):  # its one process sleeps in read(): nothing there can change
                assert not [s for s, space in spaces.listeners() if space.inode == inode]
            assert spaces.dumps[inode] == dumped
            child.stdin.write("listen\n")
            child.stdin.flush()
            port = int(child.stdout.readline())
            # It ran and opened a descriptor: the very next scan dumps and sees the listener.
            found = [s for s, space in spaces.listeners() if space.inode == inode]
            assert [s.port for s in found] == [port]
            assert spaces.dumps[inode] == dumped + 1
        finally:
            spaces.close()
            child.terminate()  # our own child, by its PID
            child.wait(10)
            child.stdin.close()
            child.stdout.close()
