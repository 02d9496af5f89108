"""kill -9 durability: every event a writer reported as recorded is in the file afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from portwatch.core.store.history import HistoryReader

WRITER = textwrap.dedent(
    """
    import sys, time
    from portwatch.core.store.history import HistoryStore
    from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto, Snapshot
    from portwatch.core.monitor import Monitor

    def listener(port):
        return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                        ProcessInfo(4242, "writer", cmdline=("writer", str(port))))

    polls = 0
    def scan():  # every poll closes one listener and opens another
        global polls
        polls += 1
        return Snapshot(time.time(), (listener(1000 + polls % 2), listener(2000 + polls)))

    store = HistoryStore(sys.argv[1], synchronous=sys.argv[2])
    monitor = Monitor(scan, history=store)
    while True:
        result = monitor.poll()
        assert not result.problems, result.problems
        # Printed only after record() returned, i.e. after COMMIT.
        print(store.last_event_id_recorded, flush=True)
    """
)


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_events_reported_as_recorded_survive_sigkill(tmp_path, synchronous):
    path = tmp_path / "history.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), synchronous],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported: list[int] = []
    try:
        while len(reported) < 40:
            line = child.stdout.readline()
            assert line, child.stderr.read()
            reported.append(int(line))
        os.kill(child.pid, signal.SIGKILL)  # mid-stream, by its PID
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)  # recovers from the WAL as any next opener would
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in conn.execute("SELECT id FROM events")}
    conn.close()
    assert reported == sorted(reported)
    assert set(reported) <= stored, f"lost: {sorted(set(reported) - stored)}"
    # Every poll before the last reported one is complete: ids have no holes up to it.
    assert set(range(1, reported[-1] + 1)) <= stored
    with HistoryReader(path) as reader:
        events = reader.events()
        assert {e.id for e in events} == stored
        assert all(e.listener.process.name == "writer" for e in events)
