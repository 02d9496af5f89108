"""The history's timeline: events counted per minute in the `timeline` table, and the chart's
buckets read from it (or from the events themselves when few are in range).

The writer adds each poll's events to their minutes in the same transaction (`add_events`),
retention recounts the minutes it touched (`recount`), and a migration counts a whole file
once (`rebuild_timeline`). `buckets()` answers "how many listeners, how many opened and closed,
between t0 and t1, in N columns" with one GROUP BY over at most one row per minute, so a chart
of five million events costs what a chart of a few thousand does. `matching_buckets()` counts
only the events a filter finds (the History tab's markers while its table is filtered): each
event in range is searched, so it answers only up to FILTERED_MAX of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MINUTE = 60.0
DIRECT_MAX = 20_000  # events in range up to which the buckets are counted from the events
# events in range up to which a filter's buckets are counted: each one is searched (≈ 3 µs,
# so ≈ 60–80 ms for 20,000 on this project's 2-core VM; the time per row of the table's filter)
FILTERED_MAX = 20_000

TIMELINE_TABLE = """
CREATE TABLE timeline (
    minute INTEGER PRIMARY KEY,
    events INTEGER NOT NULL,
    opened INTEGER NOT NULL,
    closed INTEGER NOT NULL,
    low INTEGER,
    high INTEGER,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    opened_id INTEGER,
    closed_id INTEGER
)
"""

# One minute's row from the events (the recount of minutes, the first count of a file).
_COUNT = """
SELECT CAST(time / 60 AS INTEGER) AS m, count(*), sum(event = 'opened'), sum(event = 'closed'),
       min(listeners), max(listeners), min(id), max(id),
       min(CASE WHEN event = 'opened' THEN id END), min(CASE WHEN event = 'closed' THEN id END)
FROM events {where} GROUP BY m
"""
_UPSERT = """
INSERT INTO timeline (minute, events, opened, closed, low, high, first_id, last_id, opened_id,
                      closed_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute) DO UPDATE SET
    events = events + excluded.events, opened = opened + excluded.opened,
    closed = closed + excluded.closed, low = min(coalesce(low, excluded.low), excluded.low),
    high = max(coalesce(high, excluded.high), excluded.high),
    first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id),
    opened_id = coalesce(opened_id, excluded.opened_id),
    closed_id = coalesce(closed_id, excluded.closed_id)
"""


def rebuild_timeline(conn: sqlite3.Connection) -> None:
    """Count every event of the file into `timeline` (inside the caller's transaction)."""
    conn.execute("DELETE FROM timeline")
    conn.execute("INSERT INTO timeline " + _COUNT.format(where=""))


def add_events(conn: sqlite3.Connection, rows: Iterable[tuple[int, float, str, int | None]]
               ) -> None:
    """Add (id, time, event, listeners) of newly written events to their minutes."""
    minutes: dict[int, list[Any]] = {}
    for event_id, when, kind, count in rows:
        minute = int(when // MINUTE)
        row = minutes.get(minute)
        opened, closed = kind == "opened", kind == "closed"
        if row is None:
            minutes[minute] = [minute, 1, int(opened), int(closed), count, count, event_id,
                               event_id, event_id if opened else None,
                               event_id if closed else None]
            continue
        row[1] += 1
        row[2] += opened
        row[3] += closed
        if count is not None:
            row[4] = count if row[4] is None else min(row[4], count)
            row[5] = count if row[5] is None else max(row[5], count)
        row[7] = event_id
        if opened and row[8] is None:
            row[8] = event_id
        if closed and row[9] is None:
            row[9] = event_id
    conn.executemany(_UPSERT, list(minutes.values()))


def recount(conn: sqlite3.Connection, deleted_below: int) -> None:
    """After the events with ids below `deleted_below` were deleted: drop the minutes they
    held and count again those of them that still hold events (inside the transaction)."""
    touched = [row[0] for row in conn.execute(
        "SELECT minute FROM timeline WHERE first_id < ? AND last_id >= ?",
        (deleted_below, deleted_below))]
    conn.execute("DELETE FROM timeline WHERE first_id < ?", (deleted_below,))
    for minute in touched:
        conn.execute("INSERT INTO timeline " + _COUNT.format(
            where="WHERE time >= ? AND time < ?"), (minute * MINUTE, (minute + 1) * MINUTE))


@dataclass(frozen=True, slots=True)
class Bucket:
    """One column of the chart: the events between `start` and `end` (times of the first and
    last, or of the minutes that hold them)."""

    start: float
    end: float
    low: int | None  # the fewest and most listeners after any of its events
    high: int | None
    opened: int
    closed: int
    events: int
    opened_id: int | None  # the first opened (closed) event in it, for a single marker
    closed_id: int | None


def span(conn: sqlite3.Connection) -> tuple[float, float] | None:
    """The times of the oldest and newest events (through the time index), None when empty."""
    # Two queries: SQLite reads one end of the index for a lone min() or max(), but scans the
    # whole index for both in one.
    low = conn.execute("SELECT min(time) FROM events").fetchone()[0]
    high = conn.execute("SELECT max(time) FROM events").fetchone()[0]
    return None if low is None else (float(low), float(high))


def stored_count(conn: sqlite3.Connection) -> int:
    """How many events the timeline counts (all of the file's)."""
    return int(conn.execute("SELECT coalesce(sum(events), 0) FROM timeline").fetchone()[0])


def buckets(conn: sqlite3.Connection, t0: float, t1: float, columns: int) -> list[Bucket]:
    """The events with t0 <= time < t1 in `columns` equal columns (empty ones left out): from
    the events when at most DIRECT_MAX are in range or a column is under a minute wide and
    they are few, else from the per-minute counts (then a column is at least a minute)."""
    if t1 <= t0 or columns < 1:
        return []
    width = (t1 - t0) / columns
    first, last = int(t0 // MINUTE), int(t1 // MINUTE)
    if _in_range(conn, t0, t1) <= DIRECT_MAX:
        rows = _from_events(conn, t0, t1, width)
    else:
        rows = conn.execute(
            "SELECT CAST((minute * 60.0 - :t0) / :w AS INTEGER) AS b, min(minute) * 60.0,"
            " max(minute) * 60.0 + 60, min(low), max(high), sum(opened), sum(closed),"
            " sum(events), min(opened_id), min(closed_id)"
            " FROM timeline WHERE minute >= :first AND minute <= :last GROUP BY b ORDER BY b",
            {"t0": t0, "w": max(width, MINUTE), "first": first, "last": last})
    return _buckets(rows, t0, t1)


def matching_buckets(conn: sqlite3.Connection, t0: float, t1: float, columns: int,
                     source: str, match: str, params: tuple[Any, ...]) -> list[Bucket] | None:
    """buckets() of only the events `match` finds (an SQL condition on `source`, the FROM
    clause of events joined to what it searches, with `params`), counted from the events;
    None when more than FILTERED_MAX events are in range (searching them all would keep the
    caller waiting: a narrower range answers)."""
    if t1 <= t0 or columns < 1:
        return []
    if _in_range(conn, t0, t1) > FILTERED_MAX:
        return None
    return _buckets(_from_events(conn, t0, t1, (t1 - t0) / columns, source, match, params),
                    t0, t1)


def _in_range(conn: sqlite3.Connection, t0: float, t1: float) -> int:
    """How many events the minutes from t0's to t1's hold (from the timeline: no scan)."""
    return int(conn.execute("SELECT coalesce(sum(events), 0) FROM timeline WHERE minute >= ?"
                            " AND minute <= ?", (int(t0 // MINUTE), int(t1 // MINUTE))
                            ).fetchone()[0])


def _from_events(conn: sqlite3.Connection, t0: float, t1: float, width: float,
                 source: str = "FROM events", match: str = "", params: tuple[Any, ...] = ()
                 ) -> Iterable[tuple[Any, ...]]:
    """The buckets' rows counted from the events in range (and matching `match`)."""
    where = f" AND ({match})" if match else ""
    return conn.execute(
        "SELECT CAST((events.time - ?1) / ?3 AS INTEGER) AS b, min(events.time),"
        " max(events.time), min(events.listeners), max(events.listeners),"
        " sum(events.event = 'opened'), sum(events.event = 'closed'), count(*),"
        " min(CASE WHEN events.event = 'opened' THEN events.id END),"
        " min(CASE WHEN events.event = 'closed' THEN events.id END)"
        f" {source} WHERE events.time >= ?1 AND events.time < ?2{where}"
        " GROUP BY b ORDER BY b", (t0, t1, width, *params))


def _buckets(rows: Iterable[tuple[Any, ...]], t0: float, t1: float) -> list[Bucket]:
    return [Bucket(max(start, t0), min(end, t1), low, high, opened or 0, closed or 0, events,
                   opened_id, closed_id)
            for _b, start, end, low, high, opened, closed, events, opened_id, closed_id in rows]
