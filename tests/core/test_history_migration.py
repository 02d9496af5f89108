"""Opening a history file written by an older portwatch: the data is kept and upgraded."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from portwatch.core.model import Exposure, IgnoreRule, ListenerIdentity, Proto
from portwatch.core.store import history_schema
from portwatch.core.store.history import HistoryStore
from portwatch.core.store.history_events import TABLE_COLUMNS
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
    assert history_schema.user_version(store._conn) == SCHEMA_VERSION == 4

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


# Version 2 added runs and two columns to version 1's events; spelled out here as it wrote them.
V2_ADDITIONS = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL,
    ended_at REAL, source TEXT NOT NULL);
ALTER TABLE events ADD COLUMN run_id INTEGER REFERENCES runs (id);
ALTER TABLE events ADD COLUMN listeners INTEGER;
PRAGMA user_version = 2;
"""
# (id, time, event, port, pid, process, user, exe, cmdline, owner_hidden, hidden_reason)
V2_EVENTS = [
    (1, 100.0, "present", 22, 10, "sshd", "root", "/usr/sbin/sshd", '["sshd", "-D"]', 0, None),
    (2, 100.0, "present", 5353, None, None, None, None, None, 1, "needs root"),
    (3, 110.0, "opened", 8000, 12, "py\\xffthon", None, None, '["py\\udcffthon", "-m"]', 0,
     None),
    (4, 120.0, "opened", 9000, 13, None, "bob", None, "not json", 0, None),
    (7, 130.0, "closed", 8000, 12, "python3", None, "/usr/bin/python3", "[]", 0, None),
]


def write_v2_file(path: Path) -> None:
    """A version 2 history: a run, a hidden owner, a name kept as \\xNN text, a command line
    that is not JSON, a gap in the ids and a sequence that went further (retention deleted
    the newest rows' neighbours)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1_LAYOUT + V2_ADDITIONS)
    conn.execute("INSERT INTO runs (id, started_at, ended_at, source) VALUES (1, 100, 200,"
                 " 'window')")
    for row in V2_EVENTS:
        conn.execute(
            "INSERT INTO events (id, time, event, proto, family, address, port, exposure, pid,"
            " process, user, exe, cmdline, owner_hidden, hidden_reason, service, description,"
            " risk, risk_reason, run_id, listeners) VALUES (?, ?, ?, 'tcp', 'ipv4', '0.0.0.0',"
            " ?, 'all-interfaces', ?, ?, ?, ?, ?, ?, ?, 'svc', 'desc', 'low', 'reason', 1, 2)",
            row)
    conn.execute("UPDATE sqlite_sequence SET seq = 40 WHERE name = 'events'")
    conn.commit()
    conn.close()


def test_a_version_2_file_moves_process_details_into_owner_without_losing_an_event(tmp_path):
    path = tmp_path / "history.sqlite3"
    write_v2_file(path)
    store = HistoryStore(path, clock=lambda: 300.0)
    assert history_schema.user_version(store._conn) == SCHEMA_VERSION
    columns = [row[1] for row in store._conn.execute("PRAGMA table_info(events)")]
    assert columns == list(TABLE_COLUMNS)
    events = store.events()
    assert [e.id for e in events] == [row[0] for row in V2_EVENTS]
    assert [(e.time, e.event, e.listener.port, e.listener.pid) for e in events] == [
        row[1:5] for row in V2_EVENTS]
    sshd = events[0].listener.process
    assert (sshd.name, sshd.user, sshd.exe, sshd.cmdline) == (
        "sshd", "root", "/usr/sbin/sshd", ("sshd", "-D"))
    assert events[1].listener.process is None and events[1].listener.owner_hidden
    assert events[1].listener.hidden_reason == "needs root"
    assert events[2].process_name == "py\\xffthon"
    assert events[2].listener.process.cmdline == ("py\udcffthon", "-m")
    assert events[3].process_name == "?" and events[3].listener.process.cmdline == ()
    assert [(e.service, e.description, e.risk, e.risk_reason, e.run_id, e.listeners)
            for e in events] == [("svc", "desc", "low", "reason", 1, 2)] * len(V2_EVENTS)
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone() == (
        40,)  # ids stay never reused
    assert [row[1] for row in conn.execute("PRAGMA index_list(events)")] == ["events_time"]
    conn.close()


def test_a_process_field_the_file_does_not_know_reads_as_unknown(tmp_path):
    """A process field added later needs no migration: an older row lacks its key (unknown),
    and a key a newer portwatch wrote is ignored."""
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path, clock=lambda: 300.0)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO events (run_id, time, event, listeners, proto, family, address, port,"
        " exposure, pid, owner_hidden, owner) VALUES (NULL, 5, 'opened', 1, 'tcp', 'ipv4',"
        " '127.0.0.1', 80, 'loopback', 99, 0, ?)",
        (json.dumps({"process": "web", "from_the_future": 1}),))
    conn.commit()
    conn.close()
    store = HistoryStore(path, clock=lambda: 300.0)
    (event,) = store.events()
    proc = event.listener.process
    assert (proc.pid, proc.name, proc.user, proc.create_time, proc.cmdline) == (
        99, "web", None, None, ())
    store.close()
