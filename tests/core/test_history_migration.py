"""Opening a history file written by an older portwatch: the data is kept and upgraded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from portwatch.core.model import Exposure, IgnoreRule, ListenerIdentity, Proto
from portwatch.core.store import history_schema
from portwatch.core.store.history import HistoryStore
from portwatch.core.store.history_schema import SCHEMA_VERSION

# The layout portwatch wrote as schema version 1, spelled out here as that version wrote it
# (not imported), so the test keeps describing the old files even when the module changes.
V1_LAYOUT = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL,
    event TEXT NOT NULL, proto TEXT NOT NULL, family TEXT NOT NULL, address TEXT NOT NULL,
    port INTEGER NOT NULL, exposure TEXT NOT NULL, pid INTEGER, process TEXT, user TEXT,
    exe TEXT, cmdline TEXT, owner_hidden INTEGER NOT NULL DEFAULT 0, hidden_reason TEXT,
    service TEXT, description TEXT, risk TEXT, risk_reason TEXT);
CREATE INDEX events_time ON events (time);
CREATE TABLE known (program TEXT NOT NULL, proto TEXT NOT NULL, port INTEGER NOT NULL,
    exposure TEXT NOT NULL, first_seen REAL NOT NULL,
    PRIMARY KEY (program, proto, port, exposure)) WITHOUT ROWID;
CREATE TABLE acknowledged (program TEXT NOT NULL, proto TEXT NOT NULL, port INTEGER NOT NULL,
    exposure TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (program, proto, port, exposure)) WITHOUT ROWID;
CREATE TABLE ignore_rules (id INTEGER PRIMARY KEY, process TEXT, port_from INTEGER,
    port_to INTEGER, proto TEXT, created REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
"""

# (time, event, port, pid, process): two runs as version 1 recorded them.
V1_EVENTS = [
    (100.0, "present", 22, 10, "sshd"),
    (100.0, "present", 631, 11, "cupsd"),
    (110.0, "opened", 8000, 12, "python3"),
    (120.0, "closed", 631, 11, "cupsd"),
    (200.0, "present", 22, 10, "sshd"),
    (210.0, "opened", 5432, 13, "postgres"),
]


def write_v1_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1_LAYOUT)
    for when, event, port, pid, process in V1_EVENTS:
        conn.execute(
            "INSERT INTO events (time, event, proto, family, address, port, exposure, pid,"
            " process, user, exe, cmdline, owner_hidden, hidden_reason, service, description,"
            " risk, risk_reason) VALUES (?, ?, 'tcp', 'ipv4', '0.0.0.0', ?, 'all-interfaces',"
            " ?, ?, 'root', ?, ?, 0, NULL, NULL, NULL, 'low', 'reason')",
            (when, event, port, pid, process, f"/usr/sbin/{process}",
             json.dumps([process, "-D"])),
        )
    conn.execute("INSERT INTO known VALUES ('/usr/sbin/sshd', 'tcp', 22, 'all-interfaces', 1)")
    conn.execute("INSERT INTO acknowledged VALUES ('/usr/sbin/cupsd', 'tcp', 631,"
                 " 'all-interfaces', 2)")
    conn.execute("INSERT INTO ignore_rules (process, port_from, port_to, proto, created)"
                 " VALUES (NULL, 5353, 5353, 'udp', 3)")
    conn.execute("INSERT INTO meta VALUES ('baseline_at', '1.0')")
    conn.commit()
    conn.close()


def test_a_version_1_file_is_upgraded_with_its_data_kept(tmp_path):
    path = tmp_path / "old" / "history.sqlite3"
    write_v1_file(path)
    store = HistoryStore(path, clock=lambda: 300.0)
    assert history_schema.user_version(store._conn) == SCHEMA_VERSION == 2

    events = store.events()
    assert [(e.time, e.event, e.listener.port, e.listener.pid, e.process_name)
            for e in events] == V1_EVENTS
    assert events[2].listener.process.cmdline == ("python3", "-D")
    assert events[2].listener.exposure is Exposure.ALL_INTERFACES
    assert [e.listeners for e in events] == [2, 2, 3, 2, 1, 2]
    runs = store.runs()
    assert [(started, source) for _, started, _, source in runs] == [
        (100.0, "migrated"), (200.0, "migrated")]
    assert [e.run_id for e in events] == [runs[0][0]] * 4 + [runs[1][0]] * 2
    assert store.counts_over_time() == [(100.0, 2), (110.0, 3), (120.0, 2), (200.0, 1),
                                        (210.0, 2)]

    assert store.has_baseline()
    assert store.known_identities() == {
        ListenerIdentity("/usr/sbin/sshd", Proto.TCP, 22, Exposure.ALL_INTERFACES)}
    assert store.acknowledged() == {
        ListenerIdentity("/usr/sbin/cupsd", Proto.TCP, 631, Exposure.ALL_INTERFACES)}
    assert store.ignore_rules() == [IgnoreRule(None, 5353, 5353, Proto.UDP)]
    store.close()
    # Opening again does not migrate twice.
    again = HistoryStore(path, clock=lambda: 300.0)
    assert len(again.runs()) == 2 and len(again.events()) == len(V1_EVENTS)
    again.close()


def test_a_failing_step_leaves_the_old_version_intact(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite3"
    write_v1_file(path)

    def broken(conn: sqlite3.Connection) -> None:
        history_schema._execute_script(conn, history_schema.V2_TABLES)
        raise RuntimeError("power cut, as far as the transaction knows")

    monkeypatch.setattr(history_schema, "MIGRATIONS", (history_schema._to_v1, broken))
    with pytest.raises(RuntimeError):
        HistoryStore(path, clock=lambda: 300.0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "runs" not in tables
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    assert "run_id" not in columns
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(V1_EVENTS)
    conn.close()
    monkeypatch.undo()
    store = HistoryStore(path, clock=lambda: 300.0)  # and the real step then works
    assert len(store.events()) == len(V1_EVENTS)
    store.close()


def test_an_empty_file_becomes_a_new_history(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"")
    store = HistoryStore(path)
    assert history_schema.user_version(store._conn) == SCHEMA_VERSION
    assert store.events() == [] and not store.has_baseline()
    store.close()
