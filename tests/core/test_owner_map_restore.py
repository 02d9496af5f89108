"""A restored owner map re-reads only the links that may have changed: a one-thread holder that
has not run since its links were last found right is believed (it cannot close an fd without
running); one that ran, or has several threads, is checked, and a copy it closed is noticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from portwatch.core.probe.owners import OwnerMap
from portwatch.core.probe.sockdiag import SockDiag

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the owner map reads /proc")

DEADLINE = 30.0

# Listens, forks a child that keeps the socket; the child closes its copy on SIGUSR1 (only
# it runs then), both end when stdin closes. With "thread", the parent runs a second thread.
SHARING = textwrap.dedent(
    """
    import json, os, signal, socket, sys, threading, time
    if "thread" in sys.argv:
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(write_end)
        signal.signal(signal.SIGUSR1, lambda *args: s.close())
        os.read(read_end, 1)  # until the parent ends
        os._exit(0)
    os.close(read_end)
    print(json.dumps({"port": s.getsockname()[1], "child": child}), flush=True)
    sys.stdin.read()
    os.write(write_end, b"x")
    os.waitpid(child, 0)
    """
)


@pytest.fixture
def sharing(request):
    """A cold owner map that knows the processes of now, then the sharing pair started: the
    map's next resolve walks both as new processes and knows both holders."""
    cold = OwnerMap()
    cold.resolve(set())
    proc = subprocess.Popen([sys.executable, "-c", SHARING, *getattr(request, "param", ())],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        diag = SockDiag()
        (inode,) = [item.inode for item in diag.listeners()
                    if item.port == info["port"] and item.address == "127.0.0.1"]
        diag.close()
        for pid in (proc.pid, info["child"]):  # blocked reading: they stop running
            wait_for(lambda pid=pid: resting(pid), "the pair waits")
        cold.resolve({inode})
        yield cold, proc, info["child"], inode
    finally:
        proc.stdin.close()  # both end
        proc.wait(30)
        proc.stdout.close()


def resting(pid: int) -> bool:
    """Whether pid's threads have not run for a moment (their run times stayed the same)."""
    def runtimes() -> list[int]:
        found = []
        for task in sorted(os.listdir(f"/proc/{pid}/task")):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                found.append(int(handle.read().split()[0]))
        return found

    before = runtimes()
    time.sleep(0.05)  # the moment: polled by wait_for until nothing ran during one
    return runtimes() == before


def restored(saved: dict, inode: int) -> OwnerMap:
    owners = OwnerMap()
    assert owners.restore(json.loads(json.dumps(saved)))  # as written to and read from a file
    owners.resolve({inode})
    return owners


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_quiet_holders_are_believed_and_a_closed_copy_is_noticed(sharing):
    cold, proc, child, inode = sharing
    assert cold.holders(inode) == (proc.pid, child)
    warm = restored(cold.saved(), inode)
    assert warm.holders(inode) == (proc.pid, child)
    assert warm.stats.verified == 0  # neither ran since the walk: nothing re-read
    os.kill(child, signal.SIGUSR1)  # our own test's process, by its PID
    wait_for(lambda: not any(os.readlink(f"/proc/{child}/fd/{fd}") == f"socket:[{inode}]"
                             for fd in os.listdir(f"/proc/{child}/fd")), "the child closes it")
    after = restored(warm.saved(), inode)
    assert after.stats.verified == 1  # the child ran: its link is read again, the parent's not
    assert after.holders(inode) == (proc.pid,)


@pytest.mark.parametrize("sharing", [("thread",)], indirect=True)
def test_a_holder_with_threads_is_always_checked(sharing):
    cold, proc, child, inode = sharing
    warm = restored(cold.saved(), inode)
    assert warm.holders(inode) == (proc.pid, child)
    assert warm.stats.verified == 1  # the parent's link (two threads); the child has one
