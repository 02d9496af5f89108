"""The history store: a SQLite event log of listeners opening and closing, and the alert memory.

`HistoryStore` is the writer. It is the Monitor's EventSink (`record(result)`) and implements
core.memory.AlertMemory (baseline of known identities, acknowledgements, ignore rules) in tables,
so all of it survives restarts. `HistoryReader` opens the same file read-only: the GUI's
history tab reads through its own connection in the GUI thread while the worker thread's store
writes (each sqlite3 connection stays in the thread that made it). `open_history()` opens the
store or, when the file is damaged, locked or unreadable, falls back to `MemoryHistory` with a
clear sentence for the user: monitoring never stops because of the history file, and the user's
file is never deleted (at most renamed aside, when asked to, and then said so).

Recording rules:

- The first poll of a run records every listener present as a `present` event (a snapshot), not
  as `opened`: the listeners were already there, portwatch just started looking. A snapshot per
  run keeps the timeline's counts exact and answers "what was listening when I started?".
  Whether a listener is *new* to this machine is the alert rules' job (the known identities).
- Later polls record `closed` then `opened` events, each with `listeners`, the count after it,
  then `changed` ones for sockets whose owner changed (exec; another holder now), not counted.
- One poll's events are one transaction. The database is in WAL mode with synchronous=FULL:
  when `record()` returns, the WAL has been fsync'd, so what was reported as recorded survives
  kill -9 and also a power cut or OS crash. (synchronous=NORMAL would survive kill -9 too — the
  WAL write() reaches the OS before COMMIT returns — but could lose the last commits on power
  loss.) FULL costs one fsync per poll *that has events*; quiet polls write nothing.
- Retention (at open, then at most once a day from `record()`): events `retention_days`
  (default 90) older than the newest stored event are deleted, oldest first in recording
  order; nothing while the clock is behind the newest event (said once). The size budget
  (`max_bytes`, checked at open and once a minute) deletes the oldest events the same way.
- When the file cannot take a poll's events (disk full, locked), they are held in memory and
  written with a later poll's; stopping and resuming are said once each (`take_notices()`),
  and `unrecorded` counts what is not in the file meanwhile.
- Events are read in recording order (the id), whatever times a changed clock gave them;
  `iter_events()` streams them.

The event values and their rows live in history_events.py, the file's problems in words in
history_problems.py, the layout and migrations in history_schema.py; this module re-exports
what callers need, so `from portwatch.core.store.history import ...` is the one import.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portwatch.core.alerts.memory import InMemoryAlertMemory
from portwatch.core.files import paths, private
from portwatch.core.model import IgnoreRule, Listener, ListenerIdentity
from portwatch.core.store.history_events import (
    CHANGED,
    CLOSED,
    EVENT_KINDS,
    FIRST_REMOTE,
    INSERT_EVENT,
    OPENED,
    PRESENT,
    SELECT_EVENTS,
    HistoryEvent,
    counts_from,
    event_from_row,
    event_row,
    events_of,
    identity_from_row,
    identity_row,
    iso_utc,
    rule_from_row,
    rule_row,
)
from portwatch.core.store.history_problems import (
    HistoryError,
    OutdatedSchema,
    describe_error,
    kind_of,
    problem_text,
    set_aside,
)
from portwatch.core.store.history_schema import SCHEMA_VERSION, check_version, migrate

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult

# The public names of the history, wherever they are defined.
__all__ = [
    "CHANGED", "CLOSED", "DEFAULT_RETENTION_DAYS", "EVENT_KINDS", "FIRST_REMOTE", "OPENED",
    "PRESENT", "History",
    "HistoryError", "HistoryEvent", "HistoryReader", "HistoryStore", "MemoryHistory",
    "OutdatedSchema", "attach_history", "counts_from", "describe_error", "events_of",
    "iso_utc", "open_history", "problem_text", "set_aside",
]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90.0
DEFAULT_MAX_BYTES = 500_000_000  # Settings.history_max_mb
BUDGET_EVERY = 60.0  # seconds between two checks of the file's size while recording
PRUNE_EVERY = 24 * 3600.0
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds to wait for another writer (the GUI and `watch` share it)
PENDING_EVENTS_CAP = 200_000  # events kept for the next try while the file cannot take them
LISTENER_CACHE = 10_000  # Listener values reused while decoding rows


# -- reading ------------------------------------------------------------------------------------


def _time_range(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters for since <= time < until (either may be None)."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("time < ?")
        params.append(until)
    return clauses, params


class HistoryReader:
    """Reads a history file through its own read-only connection (for the thread that made it).

    Raises FileNotFoundError when there is no file yet and HistoryError when it cannot be used
    (damaged, locked, or of another schema version)."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout: float = 2.0) -> None:
        self.path = Path(path) if path is not None else paths.history_file()
        try:
            exists = private.check_own_file(self.path)
        except private.PrivateFileError as exc:
            raise HistoryError(str(exc)) from exc
        if not exists:
            problem = private.folder_problem(self.path.parent)
            if problem:  # "no history yet" would hide what is wrong
                raise HistoryError(problem)
            raise FileNotFoundError(str(self.path))
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout,
                                         isolation_level=None)
        except sqlite3.Error as exc:
            raise HistoryError(describe_error(self.path, exc)) from exc
        try:
            version = check_version(self._conn)
        except sqlite3.Error as exc:
            self._conn.close()
            raise HistoryError(describe_error(self.path, exc)) from exc
        if version == 0:  # created this moment, its tables not yet: nothing recorded yet
            self._conn.close()
            raise FileNotFoundError(str(self.path))
        if version != SCHEMA_VERSION:  # older: NewerSchema was raised above
            self._conn.close()
            raise OutdatedSchema(
                f"history file {self.path} has schema version {version}; this portwatch"
                f" reads version {SCHEMA_VERSION} (opening it for recording upgrades it)"
            )

    def events(
        self,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        *,
        after_id: int | None = None,
        by_id: bool = False,
    ) -> list[HistoryEvent]:
        """Events with since <= time < until (either may be None), in the order they were
        recorded (the id: it only grows, so a clock that jumps cannot reorder them); at most
        `limit` (the first ones); `after_id` gives only events stored after that one.
        `by_id` is accepted for older callers: the order is always the recorded one."""
        return list(self.iter_events(since, until, limit, after_id=after_id))

    def iter_events(self, since: float | None = None, until: float | None = None,
                    limit: int | None = None, *, after_id: int | None = None
                    ) -> Iterator[HistoryEvent]:
        """events() one at a time, as SQLite reads them: the first comes at once and memory
        stays constant whatever the file's size. With a time range, the first matching id is
        found through the time index and the rest is read in id order from there."""
        clauses, params = _time_range(since, until)
        start = after_id + 1 if after_id is not None else None
        if clauses:
            first = self._conn.execute(
                f"SELECT min(id) FROM events WHERE {' AND '.join(clauses)}",  # noqa: S608
                params).fetchone()[0]
            if first is None:
                return
            start = max(start or 0, int(first))
            clauses = [f"+{clause}" for clause in clauses]  # id order, not the time index
        if start is not None:
            clauses.append("id >= ?")
            params.append(start)
        sql = SELECT_EVENTS
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        cursor = self._conn.execute(sql, params)
        try:
            yield from self._decode(cursor)
        finally:
            cursor.close()

    def count(self, since: float | None = None, until: float | None = None) -> int:
        """How many events have since <= time < until (through the time index)."""
        clauses, params = _time_range(since, until)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return int(self._conn.execute(f"SELECT count(*) FROM events{where}",  # noqa: S608
                                      params).fetchone()[0])

    def counts_over_time(self, since: float | None = None,
                         until: float | None = None) -> list[tuple[float, int]]:
        """(time, listener count after the event), oldest first, one point per run snapshot."""
        return counts_from(self.events(since, until))

    def last_event_id(self) -> int:
        row = self._conn.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def first_event_id(self) -> int:
        row = self._conn.execute("SELECT min(id) FROM events").fetchone()
        return int(row[0] or 0)

    def runs(self) -> list[tuple[int, float, float | None, str]]:
        """(id, started_at, ended_at or None, source) of each run kept, oldest first."""
        return [tuple(row) for row in self._conn.execute(
            "SELECT id, started_at, ended_at, source FROM runs ORDER BY id")]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> HistoryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _decode(rows: Iterable[tuple[Any, ...]]) -> Iterator[HistoryEvent]:
        listeners: dict[tuple[Any, ...], Listener] = {}
        for row in rows:
            if len(listeners) > LISTENER_CACHE:  # a churning machine: keep memory bounded
                listeners.clear()
            try:
                yield event_from_row(row, listeners)
            except (KeyError, ValueError, TypeError) as exc:  # a value this version lacks
                log.debug("skipping history row %s: %s", row[0], exc)


# -- writing ------------------------------------------------------------------------------------


def _no_space_left(folder: Path) -> bool:
    """Whether the file system of `folder` has no room for one more page of the history."""
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def why_not_recorded(exc: sqlite3.OperationalError, folder: Path | None = None) -> str:
    """Why a write failed, in words: the disk is full, the file is locked, or SQLite's words.
    A full disk can also reach SQLite as "disk I/O error", so the folder's free space is
    asked too."""
    text = str(exc).lower()
    if "full" in text or (folder is not None and _no_space_left(folder)):
        return "the disk is full"
    if "locked" in text or "busy" in text:
        return "the file is locked by another program"
    if "readonly" in text or "read-only" in text:
        return "the file has become read-only"
    return f"the file cannot be written ({exc})"


class HistoryStore(HistoryReader):
    """The history file opened for writing, by the thread that will use it.

    Raises sqlite3.Error (or OSError for the directory) when the file cannot be used; use
    `open_history()` to get a fallback and a sentence for the user instead."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        source: str = "gui",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], float] = time.time,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path) if path is not None else paths.history_file()
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self._budget_checked = -float("inf")  # time.monotonic() of the last size check
        self.source = source
        self._clock = clock
        self._run_id: int | None = None
        self._pending: list[HistoryEvent] = []  # events a locked database refused; retried
        self._clock_behind_said = False
        self._opened = False
        self._failing: str | None = None  # why recording stopped, while it is stopped
        self._dropped = 0  # events not kept while recording was stopped (over the cap)
        self.notices: list[str] = []  # sentences for the user about the file (said once)
        self.last_event_id_recorded = 0
        private.make_private_dir(self.path.parent)
        if not private.check_own_file(self.path):
            private.create_private_file(self.path)  # 0600: SQLite gives -wal/-shm its mode
        problem = private.writable_problem(self.path)
        if problem:
            raise private.PrivateFileError(problem)
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        try:
            self._setup(synchronous)
            private.tighten(self.path)  # a file an older portwatch made 0644
            self.prune(retention_days)
            self.enforce_budget()
            self._load_memory()
            self._opened = True
        except BaseException:
            self._conn.close()
            raise

    def _setup(self, synchronous: str) -> None:
        conn = self._conn
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        # Everything that only reads comes first, so a file we refuse is not changed at all:
        # the header ("file is not a database"), whose file it is, and a quick integrity check.
        check_version(conn)
        check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # e.g. some network file systems
            log.warning("history: WAL is not available for %s (journal mode %s)", self.path, mode)
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        migrate(conn)

    # -- EventSink -------------------------------------------------------------------------

    def record(self, result: PollResult) -> None:
        """Store one poll's events in one transaction (nothing when nothing changed).

        When the file cannot take them (disk full, locked longer than the busy timeout) the
        events are kept in memory and written with a later poll's; recording stopping and
        resuming are each said once (take_notices), and `unrecorded` counts what is not in
        the file meanwhile. Nothing is dropped without being counted."""
        try:
            self._write(events_of(result), new_run=result.first)
        except sqlite3.OperationalError as exc:
            self._stopped(exc)
        else:
            self._resumed()
        if self._failing is not None:
            return
        try:
            if self._clock() - self._pruned_at >= PRUNE_EVERY:
                self.prune(self.retention_days)
            if time.monotonic() - self._budget_checked >= BUDGET_EVERY:
                self.enforce_budget()
        except sqlite3.OperationalError as exc:
            log.warning("history: pruning deferred: %s", exc)

    @property
    def failing(self) -> str | None:
        """Why recording is stopped (None while it works)."""
        return self._failing

    @property
    def unrecorded(self) -> int:
        """Events given to record() that are not in the file: held for a retry, or dropped
        because more were held than PENDING_EVENTS_CAP."""
        return len(self._pending) + self._dropped

    def take_notices(self) -> list[str]:
        """The sentences for the user since the last call (each said once)."""
        taken, self.notices = self.notices, []
        return taken

    def flush(self) -> bool:
        """Try once more to write the held events; True when none are held any more."""
        if self._pending:
            try:
                self._write([], new_run=False)
            except sqlite3.OperationalError as exc:
                self._stopped(exc)
            else:
                self._resumed()
        return not self._pending

    def _stopped(self, exc: sqlite3.OperationalError) -> None:
        if self._failing is not None:
            log.debug("history: still cannot record: %s", exc)
            return
        self._failing = why_not_recorded(exc, self.path.parent)
        self._say(f"history: recording stopped at {iso_utc(self._clock())}: {self._failing};"
                  f" events are kept in memory and written to {self.path} when it can take"
                  " them again")

    def _resumed(self) -> None:
        if self._failing is None:
            return
        self._failing = None
        lost = (f"; {self._dropped} events could not be kept and are lost"
                if self._dropped else "")
        self._say(f"history: recording resumed at {iso_utc(self._clock())}; the events kept"
                  f" meanwhile are in {self.path}{lost}")

    def _say(self, text: str) -> None:
        log.info("%s", text)
        self.notices.append(text)

    def record_events(self, events: Iterable[HistoryEvent], *, new_run: bool = False
                      ) -> list[HistoryEvent]:
        """Store events in one transaction; returns them (with any held back from a locked
        attempt first) with their ids and run once committed."""
        batch = [*self._pending, *events]
        self._pending = []
        first_id = self._write(batch, new_run=new_run)
        return [replace(item, id=first_id + offset, run_id=self._run_id)
                for offset, item in enumerate(batch)]

    def _write(self, events: list[HistoryEvent], *, new_run: bool) -> int:
        """One transaction: a new run if asked (or none is open), the held-back events, then
        `events`. Returns the id of the first event written (ids are consecutive: the
        transaction holds the write lock and ids only grow)."""
        if new_run:
            self._end_run()
            self._run_id = None
        batch = [*self._pending, *events]
        if not batch and not new_run:
            return 0
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                run_id = self._run_id
                if run_id is None:
                    started = batch[0].time if batch else self._clock()
                    cursor = conn.execute(
                        "INSERT INTO runs (started_at, ended_at, source) VALUES (?, NULL, ?)",
                        (started, self.source),
                    )
                    run_id = int(cursor.lastrowid or 0)
                conn.executemany(INSERT_EVENT, [event_row(item, run_id) for item in batch])
                last_id = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError:  # locked, busy, disk full: keep them for next time
            self._pending = batch[:PENDING_EVENTS_CAP]
            self._dropped += len(batch) - len(self._pending)
            raise
        except sqlite3.DatabaseError as exc:  # damaged since it was opened
            raise HistoryError(problem_text(self.path, exc, moved_to=None)) from exc
        self._pending = []
        self._run_id = run_id
        if batch:
            self.last_event_id_recorded = last_id
        return last_id - len(batch) + 1

    def _end_run(self) -> None:
        if self._run_id is None:
            return
        try:
            self._conn.execute("UPDATE runs SET ended_at = ? WHERE id = ?",
                               (self._clock(), self._run_id))
        except sqlite3.Error as exc:
            log.debug("history: could not mark run %s ended: %s", self._run_id, exc)

    # -- retention -------------------------------------------------------------------------

    def prune(self, older_than_days: float) -> int:
        """Delete the oldest events, in the order they were recorded, up to the first one that
        is less than `older_than_days` days older than the newest stored event (and the runs
        left without events); returns how many were deleted.

        The clock is not trusted: age is measured from the newest stored event, so a clock
        that jumped ahead deletes nothing the history itself does not call old, and nothing at
        all is deleted while the clock is behind the newest stored event (said once: an event
        from a run whose clock was ahead, or this clock is wrong). Deleting a prefix in
        storage order keeps events recorded under a clock that was behind (dated too early)
        as long as the events recorded before them."""
        now = self._clock()
        self._pruned_at = now
        conn = self._conn
        newest = conn.execute("SELECT max(time) FROM events").fetchone()[0]
        if newest is None:
            return 0
        if now < newest:
            self._say_clock_behind(now, newest)
            return 0
        cutoff = newest - older_than_days * 86400.0
        conn.execute("BEGIN IMMEDIATE")
        try:
            # The first event young enough to keep, walking in storage order (+time: not by
            # the time index, so the walk stops at the first one, past only what goes).
            row = conn.execute("SELECT id, run_id FROM events WHERE +time >= ? ORDER BY id"
                               " LIMIT 1", (cutoff,)).fetchone()
            keep_from, first_run = row if row else (0, None)
            deleted = conn.execute("DELETE FROM events WHERE id < ?", (keep_from,)).rowcount
            if deleted and first_run is not None:
                conn.execute("DELETE FROM runs WHERE id < ? AND id IS NOT ?",
                             (first_run, self._run_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if deleted:
            log.info("history: deleted %d events older than %g days", deleted, older_than_days)
        return deleted

    def used_bytes(self) -> int:
        """Bytes of the file that hold data (free pages, reused before the file grows, not
        counted)."""
        conn = self._conn
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * size)

    def enforce_budget(self) -> int:
        """Keep the file within `max_bytes`: when its data outgrow it, delete the oldest
        events, in the order recorded, down to 90 % of it (the pages freed are reused, so the
        file stops growing). Returns how many events were deleted."""
        self._budget_checked = time.monotonic()
        used = self.used_bytes()
        if not self.max_bytes or used <= self.max_bytes:
            return 0
        conn = self._conn
        first, last = conn.execute("SELECT min(id), max(id) FROM events").fetchone()
        if first is None:
            return 0
        # Deleting only ever takes a prefix (here and in prune), so ids are dense.
        stored = last - first + 1
        share = (used - 0.9 * self.max_bytes) / used
        cut = first + min(stored - 1, max(1, math.ceil(stored * share)))
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = conn.execute("DELETE FROM events WHERE id < ?", (cut,)).rowcount
            kept_run = conn.execute("SELECT run_id FROM events WHERE id = ?",
                                    (cut,)).fetchone()
            if kept_run and kept_run[0] is not None:
                conn.execute("DELETE FROM runs WHERE id < ? AND id IS NOT ?",
                             (kept_run[0], self._run_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the deletion's WAL frames go too
        log.info("history: %s outgrew its budget of %d MB; deleted its %d oldest events",
                 self.path, self.max_bytes // 1_000_000, deleted)
        return deleted

    def _say_clock_behind(self, now: float, newest: float) -> None:
        if self._clock_behind_said:
            return
        self._clock_behind_said = True
        text = (f"the clock ({iso_utc(now)}) is behind the newest event in the history"
                f" ({iso_utc(newest)}): either this clock is wrong or a run recorded with a"
                " clock that was ahead; old events are not deleted until the clock passes it")
        if self._opened:
            log.warning("history: %s", text)
        else:  # open_history() hands it to the caller, who shows it
            self.notices.append(text)

    # -- AlertMemory (cached in memory, written through) -------------------------------------

    def _load_memory(self) -> None:
        conn = self._conn
        self._known = {identity_from_row(r) for r in conn.execute(
            "SELECT program, proto, port, exposure FROM known")}
        self._acked = {identity_from_row(r) for r in conn.execute(
            "SELECT program, proto, port, exposure FROM acknowledged")}
        self._rules = [rule_from_row(r) for r in conn.execute(
            "SELECT process, port_from, port_to, proto FROM ignore_rules ORDER BY id")]
        self._baseline = conn.execute(
            "SELECT 1 FROM meta WHERE key = 'baseline_at'").fetchone() is not None

    def has_baseline(self) -> bool:
        return self._baseline

    def known_identities(self) -> set[ListenerIdentity]:
        return set(self._known)

    def remember(self, identities: Iterable[ListenerIdentity]) -> None:
        new = set(identities) - self._known
        now = self._clock()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO known (program, proto, port, exposure, first_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*identity_row(i), now) for i in new],
            )
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('baseline_at', ?)",
                         (repr(now),))
        self._known |= new
        self._baseline = True

    def acknowledged(self) -> set[ListenerIdentity]:
        return set(self._acked)

    def acknowledge(self, identity: ListenerIdentity) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO acknowledged (program, proto, port, exposure, at)"
                         " VALUES (?, ?, ?, ?, ?)", (*identity_row(identity), self._clock()))
        self._acked.add(identity)

    def unacknowledge(self, identity: ListenerIdentity) -> None:
        row = identity_row(identity)
        with self._transaction() as conn:
            conn.execute("DELETE FROM acknowledged WHERE program = ? AND proto = ? AND port = ?"
                         " AND exposure = ?", row)
            conn.execute("DELETE FROM known WHERE program = ? AND proto = ? AND port = ?"
                         " AND exposure = ?", row)
        self._acked.discard(identity)
        self._known.discard(identity)

    def ignore_rules(self) -> list[IgnoreRule]:
        return list(self._rules)

    def add_ignore_rule(self, rule: IgnoreRule) -> None:
        if rule in self._rules:
            return
        with self._transaction() as conn:
            conn.execute("INSERT INTO ignore_rules (process, port_from, port_to, proto, created)"
                         " VALUES (?, ?, ?, ?, ?)", (*rule_row(rule), self._clock()))
        self._rules.append(rule)

    def remove_ignore_rule(self, rule: IgnoreRule) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM ignore_rules WHERE process IS ? AND port_from IS ?"
                         " AND port_to IS ? AND proto IS ?", rule_row(rule))
        if rule in self._rules:
            self._rules.remove(rule)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Mark this run as ended and close the connection (from the thread that opened it;
        from another thread the connection is left to the end of the process, which loses
        nothing: every recorded event is committed already)."""
        try:
            self.flush()
            if self.unrecorded:  # the caller says it to the user (watch, the window's log)
                log.info("history: %d events were not recorded in %s (%s)", self.unrecorded,
                         self.path, self.failing)
            self._end_run()
            self._conn.close()
        except sqlite3.ProgrammingError as exc:
            log.debug("history: not closed here: %s", exc)

    def __enter__(self) -> HistoryStore:
        return self


class _Transaction:
    """`with` block that is one IMMEDIATE transaction on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


# -- the fallback -------------------------------------------------------------------------------


class MemoryHistory(InMemoryAlertMemory):
    """The alert memory for this run only, and no event log: what portwatch uses when the file
    cannot be opened. Monitoring and alerts go on; the History tab reads the file, so events
    that could not be saved are not kept (the user was told the history is not being saved)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path

    def record(self, result: PollResult) -> None:
        """Nothing to record into: the events are not saved."""

    def close(self) -> None:
        pass


History = HistoryStore | MemoryHistory


# -- opening with a fallback ----------------------------------------------------------------


def open_history(
    path: Path | str | None = None,
    *,
    set_aside_damaged: bool = False,
    **store_options: Any,
) -> tuple[History, list[str]]:
    """The history store for `path` (default: paths.history_file()), or a MemoryHistory and the
    sentences that say why. A damaged file is left untouched unless `set_aside_damaged`, which
    renames it aside (see set_aside) and starts a new file; a locked or newer file is never
    moved."""
    target = Path(path) if path is not None else paths.history_file()
    try:
        store = HistoryStore(target, **store_options)
        return store, store.take_notices()
    except (sqlite3.Error, OSError) as exc:
        kind = kind_of(exc)
        log.debug("history: cannot open %s: %s", target, exc)
        if set_aside_damaged and kind in ("damaged", "foreign") and target.exists():
            try:
                moved = set_aside(target)
                store = HistoryStore(target, **store_options)
            except (sqlite3.Error, OSError) as again:
                log.debug("history: starting afresh failed: %s", again)
            else:
                message = problem_text(target, exc, moved_to=moved)
                log.info("%s", message)  # the caller shows it to the user
                return store, [message]
        message = problem_text(target, exc, moved_to=None)
        log.info("%s", message)  # the caller shows it to the user
        return MemoryHistory(target), [message]


def attach_history(monitor: Any, path: Path | str | None = None, **options: Any) -> list[str]:
    """Open the history (or its in-memory fallback) and make it `monitor.history`; returns the
    problems for the user. Call it in the thread that will poll (the GUI's worker thread), as
    the sqlite3 connection belongs to the thread that opens it."""
    history, problems = open_history(path, **options)
    monitor.history = history
    return problems
