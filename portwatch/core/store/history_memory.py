"""The alert memory kept in the history file: the baseline of known listeners, the
acknowledgements and the ignore rules (core.alerts.memory.AlertMemory), cached in memory and
written through. `StoredAlertMemory` is a part of HistoryStore (it uses the store's
connection and clock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from portwatch.core.model import IgnoreRule, ListenerIdentity
from portwatch.core.store.history_events import (
    identity_from_row,
    identity_row,
    rule_from_row,
    rule_row,
)


class StoredAlertMemory:
    """AlertMemory in the tables known, acknowledged and ignore_rules; mixed into HistoryStore."""

    _conn: sqlite3.Connection
    _clock: Callable[[], float]

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

    def _transaction(self) -> Transaction:
        return Transaction(self._conn)


class Transaction:
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
