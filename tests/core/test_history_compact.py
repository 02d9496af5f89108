"""Compact storage and the per-minute timeline of the history, on real SQLite files: a burst of
short-lived listeners costs a fraction of the inline rows and `portwatch history` reports every
event in full; the timeline's counts stay those of the events through retention; the chart's
buckets count every event, from the events or from the minutes; the table's paging queries."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from portwatch.core.files import paths
from portwatch.core.model import (
    AnnotatedListener,
    Assessment,
    CatalogEntry,
    Exposure,
    Family,
    Listener,
    ProcessInfo,
    Proto,
    Risk,
)
from portwatch.core.output.export import history_record
from portwatch.core.store import history_timeline
from portwatch.core.store.history import CLOSED, OPENED, HistoryEvent, HistoryStore
from portwatch.core.store.history_reader import HistoryReader

T0 = 1_795_000_000.0


def churner(port: int, pid: int, name: str = "worker") -> AnnotatedListener:
    """One short-lived listener of a churning service: its own port and PID, the same program."""
    sock = Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(pid, name, "alice", "/usr/bin/python3.11",
                                ("python3", "-m", "worker", "--serve"), create_time=T0,
                                ppid=1, parent="systemd"))
    return AnnotatedListener(sock, CatalogEntry(port, Proto.TCP, None, None),
                             Assessment(Risk.LOW, "loopback only: nothing else can connect"))


def burst(count: int, start: float = T0, name: str = "worker") -> list[HistoryEvent]:
    """`count` listeners that each open and close a second later, ten a second."""
    events = []
    for number in range(count):
        item = churner(20_000 + number % 30_000, 100_000 + number, name)
        when = start + number / 10
        events.append(HistoryEvent.of(OPENED, when, item, 101))
        events.append(HistoryEvent.of(CLOSED, when + 1, item, 100))
    return events


def given_owner(name: str) -> dict:
    return {"process": name, "user": "alice", "create_time": T0, "exe": "/usr/bin/python3.11",
            "cmdline": ["python3", "-m", "worker", "--serve"], "ppid": 1, "parent": "systemd"}


def fresh_counts(conn: sqlite3.Connection) -> list[tuple]:
    """The timeline as counted again from the events now."""
    return conn.execute(history_timeline._COUNT.format(where="") + " ORDER BY m").fetchall()


def test_a_burst_is_stored_compactly_and_history_reports_every_event_in_full():
    path = paths.history_file()
    store = HistoryStore(path, clock=lambda: T0 + 7200)
    given = store.record_events(burst(5000), new_run=True)
    conn = store._conn
    assert conn.execute("SELECT count(*) FROM details").fetchone()[0] == 1  # one program
    assert conn.execute("SELECT count(*) FROM events WHERE owner IS NOT NULL").fetchone()[0] == 0
    per_event = store.used_bytes() / len(given)
    store.close()

    # The same events as schema 3 kept them (owner and catalog answer in each row), for scale.
    inline = path.with_name("inline.sqlite3")
    other = HistoryStore(inline, clock=lambda: T0 + 7200)
    other._conn.execute("BEGIN")
    for item in given:
        other._conn.execute(
            "INSERT INTO events (run_id, time, event, listeners, proto, family, address, port,"
            " exposure, pid, owner_hidden, hidden_reason, owner, service, description, risk,"
            " risk_reason) VALUES (NULL, ?, ?, ?, 'tcp', 'ipv4', '127.0.0.1', ?, 'loopback', ?,"
            " 0, NULL, ?, NULL, NULL, 'low', ?)",
            (item.time, item.event, item.listeners, item.listener.port, item.listener.pid,
             json.dumps(given_owner("worker")), item.risk_reason))
    other._conn.execute("COMMIT")
    inline_per_event = other.used_bytes() / len(given)
    other.close()
    print(f"{per_event:.0f} bytes an event stored compactly, {inline_per_event:.0f} inline")
    assert per_event < inline_per_event / 2

    done = subprocess.run([sys.executable, "-m", "portwatch", "history", "--json"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == [history_record(item) for item in given]


def test_the_timeline_counts_what_the_events_hold_through_retention():
    path = paths.history_file()
    store = HistoryStore(path, clock=lambda: T0 + 7200, retention_days=1.0)
    store.record_events(burst(1500, name="old"), new_run=True)  # 150 s of churn
    store.record_events(burst(600, start=T0 + 5 * 86400), new_run=True)  # five days later
    conn = store._conn
    assert conn.execute("SELECT * FROM timeline ORDER BY minute").fetchall() == \
        fresh_counts(conn)
    assert store.stored_count() == 4200
    assert conn.execute("SELECT count(*) FROM details").fetchone()[0] == 2
    store._clock = lambda: T0 + 5 * 86400 + 100
    assert store.prune(1.0) == 3000  # the first burst is more than a day older
    assert conn.execute("SELECT * FROM timeline ORDER BY minute").fetchall() == \
        fresh_counts(conn)
    assert store.stored_count() == 1200
    # The old program's details went with its events; the kept events' stay.
    assert [row[0] for row in conn.execute("SELECT owner FROM details")] == [
        json.dumps(given_owner("worker"))]
    store.max_bytes = store.used_bytes() // 3  # the size budget deletes part of a minute
    assert store.enforce_budget() > 0
    assert conn.execute("SELECT * FROM timeline ORDER BY minute").fetchall() == \
        fresh_counts(conn)
    kept = store.events()
    assert store.stored_count() == len(kept) and kept[-1].listener.process.name == "worker"
    store.close()


@pytest.mark.parametrize("direct_max", [10**9, 0], ids=["from the events", "from the minutes"])
def test_the_buckets_count_every_event(monkeypatch, direct_max):
    monkeypatch.setattr(history_timeline, "DIRECT_MAX", direct_max)
    store = HistoryStore(paths.history_file(), clock=lambda: T0 + 7200)
    store.record_events(burst(3000), new_run=True)
    store.close()
    with HistoryReader(paths.history_file()) as reader:
        low, high = reader.span()
        assert (low, high) == (T0, T0 + 300.9)
        buckets = reader.buckets(low, high + 1, 50)
        assert sum(b.opened for b in buckets) == sum(b.closed for b in buckets) == 3000
        assert sum(b.events for b in buckets) == 6000
        assert all(b.low == 100 and b.high == 101 for b in buckets)
        assert all(low <= b.start <= b.end <= high + 1 for b in buckets)
        single = reader.buckets(T0 + 0.05, T0 + 0.15, 10)  # only the second listener's opening
        if direct_max:
            assert [(b.opened, b.opened_id) for b in single] == [(1, 3)]


def test_paging_queries_read_only_what_is_asked():
    store = HistoryStore(paths.history_file(), clock=lambda: T0 + 7200)
    given = store.record_events(burst(200), new_run=True)
    store.close()
    with HistoryReader(paths.history_file()) as reader:
        assert [e.id for e in reader.events_between(10, 14)] == [10, 11, 12, 13, 14]
        assert [e.id for e in reader.events_with_ids([7, 3, 999])] == [7, 3]
        ports = {given[0].listener.port, given[1].listener.port}  # one listener's two events
        matched = reader.matching_ids(1, 400, str(given[0].listener.port))
        assert [given[i - 1].listener.port for i in matched] == [min(ports)] * len(matched)
        assert reader.matching_ids(1, 400, "closed", descending=True)[:2] == [400, 398]
        assert reader.matching_ids(1, 400, "WORKER".lower()) == list(range(1, 401))
        by_port = reader.sort_values("events.port", cap=1000)
        assert by_port == [(e.id, e.listener.port) for e in given]
        assert reader.sort_values("events.port", cap=399) is None  # too many to sort
        assert reader.sort_values("events.port", cap=2, ids=[9, 2]) == [
            (2, given[1].listener.port), (9, given[8].listener.port)]
