"""Retention of the history file: by age (`prune`) and by size (`enforce_budget`).

Both delete a prefix of the events in recording order, so ids stay dense and an event recorded
under a clock that was behind stays as long as those recorded before it. The clock is not
trusted: age is measured from the newest stored event, and nothing is deleted while the clock
is behind it (said once). With the events go the runs, per-minute counts and details that
only they used. `Retention` is a part of HistoryStore (it uses the store's connection, clock,
run and notices).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from portwatch.core.store.history_details import DetailIds, delete_unused
from portwatch.core.store.history_events import iso_utc
from portwatch.core.store.history_memory import Transaction
from portwatch.core.store.history_timeline import recount

log = logging.getLogger(__name__)


class Retention:
    """Deleting old events; mixed into HistoryStore."""

    path: Path
    max_bytes: int | None
    notices: list[str]
    _conn: sqlite3.Connection
    _clock: Callable[[], float]
    _run_id: int | None
    _details: DetailIds
    _opened: bool
    _clock_behind_said: bool
    _pruned_at: float
    _budget_checked: float

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
        newest = self._conn.execute("SELECT max(time) FROM events").fetchone()[0]
        if newest is None:
            return 0
        if now < newest:
            self._say_clock_behind(now, newest)
            return 0
        cutoff = newest - older_than_days * 86400.0
        # The first event young enough to keep, walking in storage order (+time: not by the
        # time index, so the walk stops at the first one, past only what goes).
        row = self._conn.execute("SELECT id FROM events WHERE +time >= ? ORDER BY id LIMIT 1",
                                 (cutoff,)).fetchone()
        deleted = self._delete_before(row[0]) if row else 0
        if deleted:
            log.info("history: deleted %d events older than %g days", deleted, older_than_days)
        return deleted

    def _delete_before(self, first_kept: int) -> int:
        """One transaction: delete the events before `first_kept`, the runs and details only
        they used, and count their minutes again. Returns how many events went."""
        with Transaction(self._conn) as conn:
            deleted = conn.execute("DELETE FROM events WHERE id < ?", (first_kept,)).rowcount
            if deleted:
                kept_run = conn.execute("SELECT run_id FROM events WHERE id >= ? ORDER BY id"
                                        " LIMIT 1", (first_kept,)).fetchone()
                if kept_run and kept_run[0] is not None:
                    conn.execute("DELETE FROM runs WHERE id < ? AND id IS NOT ?",
                                 (kept_run[0], self._run_id))
                recount(conn, first_kept)
                delete_unused(conn, first_kept)
                self._details.forget()
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
        # Two queries: SQLite reads one end of the table for a lone min() or max() only.
        first = conn.execute("SELECT min(id) FROM events").fetchone()[0]
        last = conn.execute("SELECT max(id) FROM events").fetchone()[0]
        if first is None:
            return 0
        # Deleting only ever takes a prefix (here and in prune), so ids are dense.
        stored = last - first + 1
        share = (used - 0.9 * self.max_bytes) / used
        deleted = self._delete_before(first + min(stored - 1, max(1, math.ceil(stored * share))))
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
