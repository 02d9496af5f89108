"""Recording the history: `HistoryStore`, the history file opened for writing.

It is the Monitor's EventSink (`record(result)`) and the alert memory (history_memory.py),
keeps the file within its age and size (history_retention.py), and reads like a HistoryReader.

Recording rules:

- The first poll of a run records every listener present as a `present` event (a snapshot), not
  as `opened`: the listeners were already there, portwatch just started looking. A snapshot per
  run keeps the timeline's counts exact and answers "what was listening when I started?".
  Whether a listener is *new* to this machine is the alert rules' job (the known identities).
- Later polls record `closed` then `opened` events, each with `listeners`, the count after it,
  then `changed` ones for sockets whose owner changed (exec; another holder now), not counted.
- One poll's events are one transaction, with their details (history_details.py: each
  distinct owner and catalog answer once) and their minutes' counts (history_timeline.py).
  The database is in WAL mode with synchronous=FULL: when `record()` returns, the WAL has been
  fsync'd, so what was reported as recorded survives kill -9 and also a power cut or OS crash.
  (synchronous=NORMAL would survive kill -9 too — the WAL write() reaches the OS before COMMIT
  returns — but could lose the last commits on power loss.) FULL costs one fsync per poll
  *that has events*; quiet polls write nothing.
- Retention: at open, then by age at most once a day and by size once a minute.
- When the file cannot take a poll's events (disk full, locked), they are held in memory and
  written with a later poll's; stopping and resuming are said once each (`take_notices()`),
  and `unrecorded` counts what is not in the file meanwhile.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from portwatch.core.files import paths, private
from portwatch.core.store import history_timeline
from portwatch.core.store.history_details import DetailIds
from portwatch.core.store.history_events import (
    INSERT_EVENT,
    HistoryEvent,
    detail_values,
    event_row,
    events_of,
    iso_utc,
)
from portwatch.core.store.history_memory import StoredAlertMemory
from portwatch.core.store.history_problems import HistoryError, problem_text
from portwatch.core.store.history_reader import HistoryReader
from portwatch.core.store.history_retention import Retention
from portwatch.core.store.history_schema import check_version, migrate

if TYPE_CHECKING:
    from portwatch.core.monitor import PollResult

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90.0
DEFAULT_MAX_BYTES = 500_000_000  # Settings.history_max_mb
BUDGET_EVERY = 60.0  # seconds between two checks of the file's size while recording
PRUNE_EVERY = 24 * 3600.0
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds to wait for another writer (the GUI and `watch` share it)
PENDING_EVENTS_CAP = 200_000  # events kept for the next try while the file cannot take them


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


class HistoryStore(Retention, StoredAlertMemory, HistoryReader):
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
        self._details = DetailIds()
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
                last_id = self._insert(batch, run_id)
                conn.execute("COMMIT")
                self._details.committed()
            except BaseException:
                self._details.rolled_back()
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

    def _insert(self, batch: list[HistoryEvent], run_id: int) -> int:
        """Write `batch` (inside the transaction): its details, its rows and its minutes'
        counts. Returns the id of the last row (ids are consecutive within it)."""
        conn = self._conn
        if not batch:
            return int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        details = self._details.ids(conn, [detail_values(item) for item in batch])
        conn.executemany(INSERT_EVENT, [(*event_row(item, run_id), detail)
                                        for item, detail in zip(batch, details, strict=True)])
        last_id = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        self._details.used_until(conn, details, last_id)
        first_id = last_id - len(batch) + 1
        history_timeline.add_events(conn, ((first_id + offset, item.time, item.event,
                                            item.listeners)
                                           for offset, item in enumerate(batch)))
        return last_id

    def _end_run(self) -> None:
        if self._run_id is None:
            return
        try:
            self._conn.execute("UPDATE runs SET ended_at = ? WHERE id = ?",
                               (self._clock(), self._run_id))
        except sqlite3.Error as exc:
            log.debug("history: could not mark run %s ended: %s", self._run_id, exc)


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
