"""Compact storage of the history: each distinct owner and catalog answer is stored once.

An event's row keeps what changes from event to event (time, kind, count, the socket, the
PID); the owning process's details (name, user, executable, command line, …: the JSON object
of the fields stored as `Stored.PROCESS`) and the catalog's answer when it was recorded
(service, description, risk, why) go to one row of `details`, which every event with the same
values refers to by `detail`. A burst of short-lived listeners of one program (every opened and
closed event of a churning service) thus costs about 70 bytes an event instead of about 280,
and nothing is lost: reading joins the row back (`history` prints the same records).

`last_id` is the newest event that refers to a detail (or a later one), so retention deletes
the details no kept event refers to without a search: `DELETE ... WHERE last_id < first kept`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

CACHE = 20_000  # detail ids remembered by a writer (a churning machine: bounded)


class DetailIds:
    """The writer's map from a detail's values to its row (one per HistoryStore)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._added: list[str] = []  # keys first stored by the open transaction

    def ids(self, conn: sqlite3.Connection, details: Sequence[tuple[Any, ...]]) -> list[int]:
        """The detail id of each (owner JSON, *recorded) tuple, storing new ones (inside the
        caller's transaction; `rolled_back()` forgets them if it does not commit)."""
        if len(self._ids) > CACHE:
            self._ids.clear()
        found = []
        for values in details:
            key = json.dumps(values, ensure_ascii=False)
            detail = self._ids.get(key)
            if detail is None:
                row = conn.execute("SELECT id FROM details WHERE key = ?", (key,)).fetchone()
                if row is None:
                    detail = int(conn.execute(
                        "INSERT INTO details (key, owner, service, description, risk,"
                        " risk_reason, last_id) VALUES (?, ?, ?, ?, ?, ?, 0)",
                        (key, *values)).lastrowid or 0)
                    self._added.append(key)
                else:
                    detail = int(row[0])
                self._ids[key] = detail
            found.append(detail)
        return found

    def used_until(self, conn: sqlite3.Connection, details: Sequence[int], last_id: int
                   ) -> None:
        """Mark `details` as used by events up to `last_id` (the batch just written)."""
        conn.executemany("UPDATE details SET last_id = ? WHERE id = ? AND last_id < ?",
                         [(last_id, detail, last_id) for detail in set(details)])

    def committed(self) -> None:
        self._added.clear()

    def rolled_back(self) -> None:
        for key in self._added:
            self._ids.pop(key, None)
        self._added.clear()

    def forget(self) -> None:
        """After retention deleted details: ask the file again."""
        self._ids.clear()
        self._added.clear()


def delete_unused(conn: sqlite3.Connection, first_kept: int) -> int:
    """Delete the details only deleted events referred to (inside the caller's transaction)."""
    return conn.execute("DELETE FROM details WHERE last_id < ?", (first_kept,)).rowcount
