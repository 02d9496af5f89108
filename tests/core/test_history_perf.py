"""Recording polls in the worker thread: each poll's events are stored once, a quiet poll
stores nothing. What it costs is printed with -s (a figure, not an assertion: a busy machine
must not fail the suite).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest tests/core/test_history_perf.py -s
"""

from __future__ import annotations

import statistics
import time

import pytest

from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto, Snapshot
from portwatch.core.monitor import Monitor
from portwatch.core.store.history import HistoryStore


def listener(port: int) -> Listener:
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(port, f"p{port}", "alice", f"/usr/bin/p{port}", (f"p{port}",)))


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_record_cost_per_poll(tmp_path, synchronous):
    base = tuple(listener(10000 + i) for i in range(2000))
    polls = [0]

    def scan() -> Snapshot:  # 2,001 listeners; each poll one closes and another opens
        polls[0] += 1
        return Snapshot(time.time(), (*base, listener(1 + polls[0] % 2)))

    store = HistoryStore(tmp_path / "history.sqlite3", synchronous=synchronous)
    results = Monitor(scan)
    first = results.poll()
    started = time.perf_counter()
    store.record(first)
    snapshot_cost = time.perf_counter() - started
    costs = []
    for _ in range(100):
        result = results.poll()
        started = time.perf_counter()
        store.record(result)
        costs.append(time.perf_counter() - started)
    quiet = Monitor(lambda: Snapshot(time.time(), base))
    quiet.poll()
    nothing = quiet.poll()
    started = time.perf_counter()
    for _ in range(1000):
        store.record(nothing)
    quiet_cost = (time.perf_counter() - started) / 1000
    assert len(store.events()) == 2001 + 200
    store.close()
    median = statistics.median(costs)
    p95 = sorted(costs)[94]
    print(f"\nsynchronous={synchronous}: first poll snapshot of 2,001 listeners"
          f" {snapshot_cost * 1000:.0f} ms; a poll with 2 events: median {median * 1000:.2f} ms,"
          f" p95 {p95 * 1000:.2f} ms; a quiet poll {quiet_cost * 1e6:.1f} µs")
