"""exec() is seen within one poll: a process that listens and then exec()s another program
keeps its pid, start time and socket, and the next poll names the new program, as an owner
change (with the old owner) — what the window's worker and `watch` both run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from portwatch.core.monitor import Monitor
from portwatch.core.probe.scanner import ListenerScanner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="exec is watched through /proc")

DEADLINE = 30.0
SLEEP = shutil.which("sleep") or "/bin/sleep"

# Listens, says its port, and on "go" becomes `sleep 120`, keeping the listening fd.
LISTEN_THEN_EXEC = textwrap.dedent(
    f"""
    import os, socket, sys
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    os.set_inheritable(s.fileno(), True)
    print(s.getsockname()[1], flush=True)
    sys.stdin.readline()
    os.execv({SLEEP!r}, ["sleep", "120"])
    """
)


@pytest.fixture
def execing():
    proc = subprocess.Popen([sys.executable, "-c", LISTEN_THEN_EXEC], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)  # our own child, by its PID
    proc.wait(10)
    proc.stdin.close()
    proc.stdout.close()


def wait_until(condition, what: str):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_an_exec_is_an_owner_change_at_the_next_poll(execing):
    scanner = ListenerScanner()
    try:
        monitor = Monitor(scanner.scan)
        monitor.poll()  # the baseline
        port = int(execing.stdout.readline())

        def ours(result):
            return [row for row in result.rows if row.listener.port == port
                    and row.listener.address == "127.0.0.1"]

        rows: list = []
        wait_until(lambda: rows.extend(ours(monitor.poll())) or rows, "the listener appears")
        before = rows[-1].listener
        assert before.pid == execing.pid and before.process.name.startswith("python")
        execing.stdin.write("go\n")
        execing.stdin.flush()
        wait_until(lambda: os.readlink(f"/proc/{execing.pid}/exe") == os.path.realpath(SLEEP),
                   "the exec happens")
        result = monitor.poll()  # the first poll after the exec names the new program
        (change,) = [c for c in result.owner_changes if c.row.listener.port == port]
        after = change.row.listener
        assert after.pid == before.pid and after.process.name == "sleep"
        assert after.process.exe == os.path.realpath(SLEEP)
        assert change.previous.listener.process == before.process
        assert [row.listener for row in ours(result)] == [after]
        assert not [row for row in (*result.opened, *result.closed)
                    if row.listener.port == port]  # same pid: not a close and an open
        provenance = after.process.provenance
        assert provenance is not None and "name-mismatch" not in provenance.flags
        if os.path.exists("/var/lib/dpkg/status"):
            assert provenance.package is not None and provenance.package.name == "coreutils"
        assert not monitor.poll().owner_changes  # said once
    finally:
        scanner.close()
