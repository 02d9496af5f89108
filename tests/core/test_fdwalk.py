"""The first search's walk of every process split over two processes (core/probe/fdwalk.py)
reads exactly what one process reading them all reads, and a child that fails costs its half
read again here, never a missing holder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from portwatch.core.probe import fdwalk
from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.procfd import read_fd_tables

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc"),
    pytest.mark.skipif(not fdwalk.single_threaded(),
                       reason="this test process has threads: fdwalk never forks then"),
]

SLEEPER = "import sys; sys.stdin.read()"  # holds the fds it was given until stdin closes


@pytest.fixture
def shared_listeners():
    """Three listeners of this process, each also held by a child of its own; the inodes."""
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(3)]
    children = [subprocess.Popen([sys.executable, "-c", SLEEPER], stdin=subprocess.PIPE,
                                 pass_fds=(sock.fileno(),)) for sock in socks]
    try:
        yield {os.fstat(sock.fileno()).st_ino for sock in socks}, {c.pid for c in children}
    finally:
        for child in children:
            child.stdin.close()
            child.wait(30)
        for sock in socks:
            sock.close()


def every_pid() -> list[int]:
    return sorted((int(name) for name in os.listdir("/proc") if name.isdigit()), reverse=True)


def holders_of(tables, inodes) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for pid, _, _, _, sockets in tables:
        for inode, _ in sockets:
            if inode in inodes:
                found.setdefault(inode, set()).add(pid)
    return found


def test_a_split_walk_finds_what_one_process_finds(shared_listeners):
    inodes, children = shared_listeners
    pids = every_pid()
    split = fdwalk.read_all_fd_tables("/proc", pids, inodes, split=True)
    alone = read_fd_tables("/proc", pids, inodes)
    assert [table[0] for table in split] == [table[0] for table in alone] == pids
    # run times and fd counts of other processes may change between the two reads; what
    # these sockets' holders are may not
    expected = {inode: {os.getpid(), *children} & pids_holding for inode, pids_holding in
                holders_of(alone, inodes).items()}
    assert holders_of(split, inodes) == holders_of(alone, inodes) == expected
    assert all(len(holders) == 2 for holders in expected.values()) and len(expected) == 3


def test_a_child_that_fails_costs_its_half_read_again(shared_listeners, monkeypatch):
    inodes, children = shared_listeners

    def broken(_value):  # runs in the forked child only: the parent never encodes
        raise ValueError("the child could not encode its answer")

    monkeypatch.setattr(fdwalk.marshal, "dumps", broken)
    pids = every_pid()
    tables = fdwalk.read_all_fd_tables("/proc", pids, inodes, split=True)
    assert [table[0] for table in tables] == pids
    found = holders_of(tables, inodes)
    assert set(found) == inodes and all(len(holders) == 2 for holders in found.values())
    assert set().union(*found.values()) == {os.getpid(), *children}


def test_the_owner_maps_first_search_has_every_holder_when_split(shared_listeners,
                                                                 monkeypatch):
    inodes, children = shared_listeners
    monkeypatch.setattr(fdwalk, "MIN_SPLIT", 1)
    assert fdwalk.may_split(len(every_pid())) or len(os.sched_getaffinity(0)) < 2
    owners = OwnerMap()
    found = owners.resolve(inodes)
    assert set(found.values()) == {os.getpid()}  # the parent, not the child it passed it to
    held = {pid for inode in inodes for pid in owners.holders(inode)}
    assert held == {os.getpid(), *children}
