"""The history database's layout and the steps that bring an older file up to the current one.

The schema version lives in SQLite's `PRAGMA user_version`. `migrate(conn)` runs every step from
the file's version to `SCHEMA_VERSION`, each step in its own transaction together with the new
version number, so a step either happens completely or not at all (a crash mid-way leaves the
previous version, and the next start runs the step again).

Versions:

- 1: events (one row per opened/closed/present listener, with the fields of the JSON contract),
  and the alert memory: known identities (the baseline), acknowledgements, ignore rules.
- 2: runs (one row per monitoring run: when it started and ended), and on each event the run it
  belongs to and `listeners`, the number of listeners after the event (the timeline's y value,
  kept per row so that retention can delete old rows without breaking the counts). Both are
  filled in for existing rows by replaying them.
- 3: the owning process's details (name, user, executable, command line, start time, and any
  later field the declarations in `portwatch.core.fields` store this way) move into one JSON
  object per event, the `owner` column, so a new process field needs no migration. Existing
  rows are copied with their ids, run, count and the old columns folded into `owner`.
- 4: `details`, each distinct owner and catalog answer stored once (an event refers to it by
  `detail`; rows of version 3 keep theirs inline, read the same way), and `timeline`, the
  events counted per minute (the History tab's chart reads it instead of every event). Adding
  both changes no existing row; the timeline is counted from the events once.

A file with user_version 0 and no tables is new and gets the current layout. A file with
user_version 0 and tables of its own is not a portwatch history (`ForeignDatabase`); a file
with a version newer than this program knows is left alone (`NewerSchema`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable

from portwatch.core.store.history_timeline import TIMELINE_TABLE, rebuild_timeline

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4


class ForeignDatabase(sqlite3.DatabaseError):
    """The file is a SQLite database, but not one portwatch wrote."""


class NewerSchema(sqlite3.DatabaseError):
    """The file was written by a newer portwatch; this one must not change it."""

    def __init__(self, version: int) -> None:
        super().__init__(f"written by a newer portwatch (schema version {version}, this"
                         f" version knows up to {SCHEMA_VERSION})")
        self.version = version


V1_TABLES = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    event TEXT NOT NULL,
    proto TEXT NOT NULL,
    family TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    exposure TEXT NOT NULL,
    pid INTEGER,
    process TEXT,
    user TEXT,
    exe TEXT,
    cmdline TEXT,
    owner_hidden INTEGER NOT NULL DEFAULT 0,
    hidden_reason TEXT,
    service TEXT,
    description TEXT,
    risk TEXT,
    risk_reason TEXT
);
CREATE INDEX events_time ON events (time);
CREATE TABLE known (
    program TEXT NOT NULL,
    proto TEXT NOT NULL,
    port INTEGER NOT NULL,
    exposure TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (program, proto, port, exposure)
) WITHOUT ROWID;
CREATE TABLE acknowledged (
    program TEXT NOT NULL,
    proto TEXT NOT NULL,
    port INTEGER NOT NULL,
    exposure TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (program, proto, port, exposure)
) WITHOUT ROWID;
CREATE TABLE ignore_rules (
    id INTEGER PRIMARY KEY,
    process TEXT,
    port_from INTEGER,
    port_to INTEGER,
    proto TEXT,
    created REAL NOT NULL
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

V2_TABLES = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    ended_at REAL,
    source TEXT NOT NULL
);
ALTER TABLE events ADD COLUMN run_id INTEGER REFERENCES runs (id);
ALTER TABLE events ADD COLUMN listeners INTEGER;
"""


# The events table of version 3, written out (not derived from the field declarations, which
# change later: this is what version 3 is).
V3_EVENTS = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER REFERENCES runs (id),
    time REAL NOT NULL,
    event TEXT NOT NULL,
    listeners INTEGER,
    proto TEXT NOT NULL,
    family TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    exposure TEXT NOT NULL,
    pid INTEGER,
    owner_hidden INTEGER NOT NULL DEFAULT 0,
    hidden_reason TEXT,
    owner TEXT,
    service TEXT,
    description TEXT,
    risk TEXT,
    risk_reason TEXT
)
"""
_V2_KEPT = ("id", "run_id", "time", "event", "listeners", "proto", "family", "address", "port",
            "exposure", "pid", "owner_hidden", "hidden_reason")
_V2_RECORDED = ("service", "description", "risk", "risk_reason")


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; run the statements one by one inside our transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _to_v1(conn: sqlite3.Connection) -> None:
    _execute_script(conn, V1_TABLES)


def _to_v2(conn: sqlite3.Connection) -> None:
    _execute_script(conn, V2_TABLES)
    _backfill_runs_and_counts(conn)


def _to_v3(conn: sqlite3.Connection) -> None:
    """Rebuild the events table with the process details in `owner` (SQLite cannot change a
    column's meaning in place): every row keeps its id, and the id sequence keeps its high-water
    mark, so ids stay never reused."""
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    conn.execute("ALTER TABLE events RENAME TO events_v2")
    conn.execute(V3_EVENTS)
    old = ", ".join((*_V2_KEPT, "process", "user", "exe", "cmdline", *_V2_RECORDED))
    new = ", ".join((*_V2_KEPT, "owner", *_V2_RECORDED))
    marks = ", ".join("?" * (len(_V2_KEPT) + 1 + len(_V2_RECORDED)))
    copied = 0
    cursor = conn.execute(f"SELECT {old} FROM events_v2 ORDER BY id")  # noqa: S608 (constants)
    while rows := cursor.fetchmany(2000):
        converted = []
        for row in rows:
            kept, (process, user, exe, cmdline), recorded = row[:13], row[13:17], row[17:]
            owner = None
            if kept[10] is not None:  # pid: the owner was known
                owner = json.dumps({"process": process, "user": user, "exe": exe,
                                    "cmdline": _v2_cmdline(cmdline)})
            converted.append((*kept, owner, *recorded))
        conn.executemany(f"INSERT INTO events ({new}) VALUES ({marks})",  # noqa: S608
                         converted)
        copied += len(converted)
    conn.execute("DROP TABLE events_v2")
    conn.execute("CREATE INDEX events_time ON events (time)")
    if sequence is not None:
        conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'",
                     (sequence[0],))
    log.info("history: migrated %d events into version 3", copied)


V4_TABLES = """
CREATE TABLE details (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    owner TEXT,
    service TEXT,
    description TEXT,
    risk TEXT,
    risk_reason TEXT,
    last_id INTEGER NOT NULL
);
ALTER TABLE events ADD COLUMN detail INTEGER;
""" + TIMELINE_TABLE


def _to_v4(conn: sqlite3.Connection) -> None:
    _execute_script(conn, V4_TABLES)
    rebuild_timeline(conn)


def _v2_cmdline(text: str | None) -> list[str]:
    """A version 2 command line (a JSON list of arguments); anything else reads as unknown."""
    try:
        args = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(arg) for arg in args] if isinstance(args, list) else []


def _backfill_runs_and_counts(conn: sqlite3.Connection) -> None:
    """Replay the v1 events: each group of 'present' rows with one time starts a run (that is how
    v1 recorded the first poll), 'opened'/'closed' move the count by one."""
    rows = conn.execute(
        "SELECT id, time, event, proto, family, address, port, pid FROM events ORDER BY id"
    ).fetchall()
    updates: list[tuple[int, int, int]] = []  # (run_id, listeners, id)
    open_keys: set[tuple] = set()
    run_id: int | None = None
    group: list[int] = []  # ids of the present rows of the snapshot being read
    previous: tuple[str, float] | None = None

    def new_run(started_at: float) -> int:
        cursor = conn.execute(
            "INSERT INTO runs (started_at, ended_at, source) VALUES (?, NULL, 'migrated')",
            (started_at,),
        )
        return int(cursor.lastrowid or 0)

    def flush_group() -> None:
        updates.extend((run_id or 0, len(open_keys), event_id) for event_id in group)
        group.clear()

    for event_id, when, kind, proto, family, address, port, pid in rows:
        key = (proto, family, address, port, pid)
        if kind == "present":
            if previous != ("present", when):
                flush_group()
                run_id = new_run(when)
                open_keys.clear()
            open_keys.add(key)
            group.append(event_id)
        else:
            flush_group()
            if run_id is None:
                run_id = new_run(when)
            if kind == "opened":
                open_keys.add(key)
            else:
                open_keys.discard(key)
            updates.append((run_id, len(open_keys), event_id))
        previous = (kind, when)
    flush_group()
    conn.executemany("UPDATE events SET run_id = ?, listeners = ? WHERE id = ?", updates)
    log.info("history: migrated %d events into version 2", len(updates))


# MIGRATIONS[n] brings a database from version n to version n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_to_v1, _to_v2, _to_v3, _to_v4)
assert len(MIGRATIONS) == SCHEMA_VERSION


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(conn: sqlite3.Connection) -> int:
    """The file's schema version; raises ForeignDatabase or NewerSchema for files this
    program must not change. Only reads."""
    found = user_version(conn)
    if found > SCHEMA_VERSION:
        raise NewerSchema(found)
    if found == 0:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if tables:
            raise ForeignDatabase("a SQLite database, but not a portwatch history")
    return found


def migrate(conn: sqlite3.Connection) -> int:
    """Bring `conn`'s database to SCHEMA_VERSION; returns the version it had before.

    `conn` must be in autocommit mode (isolation_level=None)."""
    found = check_version(conn)
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if user_version(conn) != version:  # another process migrated it meanwhile
                conn.execute("ROLLBACK")
                continue
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if 0 < found < SCHEMA_VERSION:  # a brand-new file was created, not upgraded
        log.info("history: upgraded the database from version %d to %d", found, SCHEMA_VERSION)
    return found
