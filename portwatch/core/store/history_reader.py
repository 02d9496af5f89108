"""Reading the history file: `HistoryReader`, a read-only connection for the thread that made it.

It streams events in recording order (`iter_events`, the `history` command), pages them for
the History tab by id or by a filter (`events_between`, `matching_ids`: in SQL, so the tab
holds only the rows it shows) and reads the stored values a column sorts by (`sort_values`),
and gives
the tab's chart its counts per column of pixels (`buckets`, history_timeline.py; those of a
filter's events, `matching_buckets`). The filter
searches what the window's filter searches, as stored: the fields with a `search` in the
declarations (`portwatch.core.fields`) and the event's kind.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from portwatch.core import fields
from portwatch.core.files import paths, private
from portwatch.core.model import Listener
from portwatch.core.store import history_timeline
from portwatch.core.store.history_events import (
    FROM_EVENTS,
    SELECT_EVENTS,
    HistoryEvent,
    counts_from,
    event_from_row,
    stored_sql,
)
from portwatch.core.store.history_problems import HistoryError, OutdatedSchema, describe_error
from portwatch.core.store.history_schema import SCHEMA_VERSION, check_version
from portwatch.core.store.history_timeline import Bucket

log = logging.getLogger(__name__)

LISTENER_CACHE = 10_000  # Listener values reused while decoding rows

# What the table's filter searches: the event's kind and every searched field that is stored,
# as one lower-case text (SQLite lowers ASCII letters only).
_SEARCHED = ["events.event", *(sql for field in fields.FIELDS
                                if field.search is not None
                                and (sql := stored_sql(field)) is not None)]
SEARCHED_SQL = "lower(" + " || char(10) || ".join(
    f"coalesce(CAST({sql} AS TEXT), '')" for sql in _SEARCHED) + ")"
# The machine an event is about: null for this one, else the remote host (in the owner JSON).
_HOST_SQL = stored_sql(fields.BY_KEY["host"])


def _time_range(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters for since <= time < until (either may be None)."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("events.time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("events.time < ?")
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
                    limit: int | None = None, *, after_id: int | None = None,
                    host: str | None = None) -> Iterator[HistoryEvent]:
        """events() one at a time, as SQLite reads them: the first comes at once and memory
        stays constant whatever the file's size. With a time range, the first matching id is
        found through the time index and the rest is read in id order from there. `host`
        keeps one machine's events, chosen in SQL: "" this machine's, else that remote
        host's (as written in File > Add host…); None every machine's."""
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
            clauses.append("events.id >= ?")
            params.append(start)
        if host is not None:
            clauses.append(f"{_HOST_SQL} IS ?")
            params.append(host or None)
        sql = SELECT_EVENTS
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY events.id"
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

    # -- paging (the History tab) ------------------------------------------------------------

    def events_between(self, first: int, last: int) -> list[HistoryEvent]:
        """The events with first <= id <= last, in recording order."""
        cursor = self._conn.execute(f"{SELECT_EVENTS} WHERE events.id BETWEEN ? AND ?"
                                    " ORDER BY events.id", (first, last))
        return list(self._decode(cursor))

    def events_with_ids(self, ids: Sequence[int]) -> list[HistoryEvent]:
        """The events of `ids` (at most a few hundred), in that order; missing ones left out."""
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        found = {item.id: item for item in self._decode(self._conn.execute(
            f"{SELECT_EVENTS} WHERE events.id IN ({marks})", list(ids)))}
        return [found[event_id] for event_id in ids if event_id in found]

    def matching_ids(self, first: int, last: int, needle: str, *, descending: bool = False
                     ) -> list[int]:
        """Ids in first..last of the events whose searched fields contain `needle` (lower
        case; "": every event), in id order (or reversed); the table's filter, one slice at
        a time."""
        order = "DESC" if descending else ""
        if not needle:
            return [row[0] for row in self._conn.execute(
                f"SELECT id FROM events WHERE id BETWEEN ? AND ? ORDER BY id {order}",  # noqa: S608
                (first, last))]
        return [row[0] for row in self._conn.execute(
            f"SELECT events.id {FROM_EVENTS} WHERE events.id BETWEEN ? AND ?"
            f" AND instr({SEARCHED_SQL}, ?) > 0 ORDER BY events.id {order}",
            (first, last, needle))]

    def sort_values(self, sort_sql: str, needle: str = "", *, cap: int,
                    ids: Sequence[int] | None = None) -> list[tuple[int, Any]] | None:
        """(id, value of `sort_sql`) of the events (matching `needle` when given; of `ids`
        when given), in id order; None when there are more than `cap` (then it reads at
        most cap + 1 rows)."""
        if ids is not None:
            found: list[tuple[int, Any]] = []
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                found += self._conn.execute(
                    f"SELECT events.id, {sort_sql} {FROM_EVENTS}"
                    f" WHERE events.id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            return sorted(found)
        where, params = "", []
        if needle:
            where, params = f"WHERE instr({SEARCHED_SQL}, ?) > 0", [needle]
        rows = self._conn.execute(
            f"SELECT events.id, {sort_sql} {FROM_EVENTS} {where}"
            " ORDER BY events.id LIMIT ?", (*params, cap + 1)).fetchall()
        return None if len(rows) > cap else rows

    def span(self) -> tuple[float, float] | None:
        """The times of the oldest and newest stored events (None when there are none)."""
        return history_timeline.span(self._conn)

    def stored_count(self) -> int:
        """How many events the file holds (from its per-minute counts: no scan)."""
        return history_timeline.stored_count(self._conn)

    def buckets(self, since: float, until: float, columns: int) -> list[Bucket]:
        """The chart's columns between two times (history_timeline.buckets)."""
        return history_timeline.buckets(self._conn, since, until, columns)

    def matching_buckets(self, since: float, until: float, columns: int, needle: str
                         ) -> list[Bucket] | None:
        """The chart's columns of only the events whose searched fields contain `needle`
        (lower case), as `matching_ids` finds them; None when too many events are in range
        to search them now (history_timeline.FILTERED_MAX)."""
        return history_timeline.matching_buckets(
            self._conn, since, until, columns, FROM_EVENTS, f"instr({SEARCHED_SQL}, ?) > 0",
            (needle,))

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


